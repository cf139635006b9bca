"""Who calls: `Authorization: Bearer TOKEN` -> its hash -> the store's token -> a Principal.

Only the token's sha256 is ever looked up (the store keeps nothing else); the token itself is
never logged, echoed or kept."""

from __future__ import annotations

import hashlib
from typing import Any

from gallery_sync.gallery import Principal, Role

ANONYMOUS = Principal(None)


class Unauthenticated(Exception):
    """A token was given but is unknown or revoked (HTTP 401 `unauthenticated`)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def authenticate(store: Any, token: str | None) -> Principal:
    """The principal a token stands for; anonymous without one; Unauthenticated for a token
    the store does not know or has revoked."""
    if token is None:
        return ANONYMOUS
    found = store.token(token_hash(token))
    if found is None or found.revoked_at is not None:
        raise Unauthenticated("the token is unknown or revoked")
    return Principal(found.account, Role(found.role))
