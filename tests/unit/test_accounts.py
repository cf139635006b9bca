"""Tokens and authentication: who a token makes the caller; only a hash is ever looked up."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gallery_sync.gallery import Principal, Role
from gallery_sync.gallery.accounts import (
    TOKEN_PREFIX,
    Unauthenticated,
    authenticate,
    new_token,
    token_hash,
)


@dataclass(frozen=True)
class Stored:
    account: str
    role: str
    revoked: bool = False


class Tokens:
    def __init__(self, **by_token: Stored) -> None:
        self.by_hash = {token_hash(t): s for t, s in by_token.items()}
        self.asked: list[str] = []

    def token(self, hashed: str) -> Stored | None:
        self.asked.append(hashed)
        return self.by_hash.get(hashed)


GOOD = TOKEN_PREFIX + "a" * 43
REVOKED = TOKEN_PREFIX + "b" * 43
ADMIN = TOKEN_PREFIX + "c" * 43
STORE = Tokens(
    **{
        GOOD: Stored("acme", "publisher"),
        REVOKED: Stored("acme", "publisher", revoked=True),
        ADMIN: Stored("ops", "admin"),
    }
)


def test_new_tokens_are_long_random_and_prefixed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("gs_") and len(t) == 3 + 43 for t in tokens)


def test_the_hash_is_sha256_hex_and_not_the_token() -> None:
    hashed = token_hash(GOOD)
    assert len(hashed) == 64 and int(hashed, 16) >= 0
    assert GOOD not in hashed


def test_no_token_is_the_anonymous_principal() -> None:
    assert authenticate(STORE, None) == Principal(None)


def test_a_known_token_is_its_account_with_its_role() -> None:
    assert authenticate(STORE, GOOD) == Principal("acme", Role.PUBLISHER)
    assert authenticate(STORE, ADMIN) == Principal("ops", Role.ADMIN)
    assert STORE.asked[-1] == token_hash(ADMIN)  # looked up by hash, never by the token


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (REVOKED, "revoked"),
        (TOKEN_PREFIX + "z" * 43, "unknown"),
        ("", "not a gallery-sync token"),
        ("Bearer " + GOOD, "not a gallery-sync token"),
        (TOKEN_PREFIX + "x" * 10_000, "not a gallery-sync token"),
    ],
)
def test_a_bad_or_revoked_token_is_unauthenticated_and_never_echoed(token: str, words: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        authenticate(STORE, token)
    assert caught.value.code == "unauthenticated"
    assert words in str(caught.value)
    assert token not in str(caught.value) or not token


def test_a_token_of_an_unknown_role_is_refused() -> None:
    odd = TOKEN_PREFIX + "d" * 43
    with pytest.raises(Unauthenticated, match="role"):
        authenticate(Tokens(**{odd: Stored("acme", "root")}), odd)
