"""Searching released assets: the page a store answers, the words of a search as each
database's full-text query spells them, and a browser's session as a store keeps it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gallery_sync.model import Asset

# A search's words: letters and digits (any script), at most this many of them. Anything
# else (quotes, operators, punctuation) only separates words, so a query can never be read
# as FTS5 or tsquery syntax.
_WORD = re.compile(r"\w+")
MAX_WORDS = 8
MAX_WORD_LENGTH = 64


def search_words(text: str) -> list[str]:
    """The words searched for in `text` (lower case, each matched as a prefix)."""
    words = [w.lower()[:MAX_WORD_LENGTH] for w in _WORD.findall(text.replace("_", " "))]
    return list(dict.fromkeys(words))[:MAX_WORDS]


def fts5_query(words: list[str]) -> str:
    """SQLite FTS5: every word, as a quoted prefix ("flow"* "res"*)."""
    return " ".join(f'"{w}"*' for w in words)


def tsquery(words: list[str]) -> str:
    """PostgreSQL to_tsquery('simple', ...): every word, as a prefix (flow:* & res:*)."""
    return " & ".join(f"{w}:*" for w in words)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of released assets a listing found, newest first; how many it found in all;
    and, per category, how many of them (before the category filter) are in it."""

    assets: list[Asset]
    total: int
    categories: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: the hash of its session id is the key, the hash of the token it
    signed in with says who it is (a revoked token ends the session), `csrf` its forms' token."""

    session_hash: str
    token_hash: str
    csrf: str
    created_at: str
    expires_at: str
