"""Accounts: API tokens made, hashed and looked up; who a token makes the caller (Principal).

A token is shown once, when made; the store keeps only its sha256. Looking a token up by its
hash (a unique index) compares no secret byte by byte, so its timing tells nothing of it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

from gallery_sync.errors import GallerySyncError
from gallery_sync.gallery import Principal, Role

# Recognisable in a leaked log or a secret scanner's rules; never part of what is hashed away.
TOKEN_PREFIX = "gs_"
# A token no longer than this is checked; a longer header is refused before it is hashed.
MAX_TOKEN_LENGTH = 256


class Unauthenticated(GallerySyncError):
    """No token where one is needed, or an unknown or revoked one."""

    code = "unauthenticated"


class StoredToken(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def revoked(self) -> bool: ...


class TokenStore(Protocol):
    """What authentication needs of a store: a token's record by its hash."""

    def token(self, token_hash: str) -> StoredToken | None: ...


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe, with the recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token (hex sha256): enough to recognise it, never to use it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def authenticate(store: TokenStore, token: str | None) -> Principal:
    """The principal a request's token makes: None, anonymous; a known, unrevoked token, its
    account with its role; anything else Unauthenticated (its message never holds the token)."""
    if token is None:
        return Principal(None)
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("the token is not a gallery-sync token (they begin with gs_)")
    found = store.token(token_hash(token))
    if found is None:
        raise Unauthenticated("the token is unknown; ask the gallery's operator for one")
    if found.revoked:
        raise Unauthenticated("the token was revoked; ask the gallery's operator for a new one")
    try:
        role = Role(found.role)
    except ValueError:
        raise Unauthenticated("the token's role is unknown to this version") from None
    return Principal(found.account, role)
