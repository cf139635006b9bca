"""Who a browser is: a session cookie (a random id; the store keeps its hash and the hash of
the token signed in with, never the token), and the CSRF token every form carries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from gallery_sync.gallery import Principal, Role
from gallery_sync.gallery.accounts import token_hash
from gallery_sync.gallery.search import WebSession
from gallery_sync.gallery.service import Store

SESSION_COOKIE = "gs_session"
# Before signing in, forms (the sign-in form itself) are tied to this cookie instead.
CSRF_COOKIE = "gs_csrf"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600
ANONYMOUS = Principal(None)


def digest(secret: str) -> str:
    """What the store keeps of a session id (hex sha256)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True, slots=True)
class Visitor:
    """The principal a request comes from, and its session (None: not signed in)."""

    principal: Principal
    session: WebSession | None = None

    @property
    def account(self) -> str | None:
        return self.principal.account


def visitor(store: Store, session_id: str | None) -> Visitor:
    """The visitor a session cookie stands for: anonymous without one, or for a session that
    expired, ended, or whose token was revoked since."""
    if not session_id:
        return Visitor(ANONYMOUS)
    session = store.web_session(digest(session_id))
    if session is None:
        return Visitor(ANONYMOUS)
    token = store.token(session.token_hash)
    if token is None or token.revoked:
        return Visitor(ANONYMOUS)
    try:
        role = Role(token.role)
    except ValueError:
        return Visitor(ANONYMOUS)
    return Visitor(Principal(token.account, role), session)


def begin(store: Store, token: str) -> str:
    """A new session for a token already authenticated: the id for the cookie."""
    session_id = new_secret()
    start = time.time()
    store.create_session(
        WebSession(
            digest(session_id),
            token_hash(token),
            new_secret(),
            _stamp(start),
            _stamp(start + SESSION_SECONDS),
        )
    )
    return session_id


def csrf_expected(visitor: Visitor, cookie: str | None) -> str | None:
    """The CSRF token this visitor's forms carry: its session's, else its CSRF cookie's."""
    return visitor.session.csrf if visitor.session is not None else cookie


def csrf_valid(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
