"""PostgreSQL for the tests: one fresh database per test session, one schema per test.

The server is GALLERY_TEST_PG (a URL of a database we may CREATE DATABASE from), else
postgresql://postgres@127.0.0.1:5432/test. If nothing answers there, the PostgreSQL tests
are skipped with one line saying how to run them; under CI=true they fail instead, because
CI must run them (.ci/run starts the local cluster first).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("GALLERY_TEST_PG", "").strip() or DEFAULT_SERVER


def with_database(url: str, database: str, *, schema: str | None = None) -> str:
    """`url` naming another database (and, if given, a search_path of one schema)."""
    parts = urlsplit(url)
    query = f"options={quote(f'-csearch_path={schema}')}" if schema else ""
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


def unreachable(url: str, why: str) -> str:
    where = urlsplit(url).hostname or "the default socket"
    port = urlsplit(url).port or 5432
    return (
        f"PostgreSQL tests skipped: no server at {where}:{port} ({why}); start one or set "
        "GALLERY_TEST_PG=postgresql://USER@HOST:PORT/DATABASE"
    )


def _probe(url: str) -> str | None:
    """None if the server answers, else why not (one line)."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed: {exc}"
    try:
        psycopg.connect(url, autocommit=True, connect_timeout=3).close()
    except psycopg.Error as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


_SKIPPED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server, the tests that need one are set aside and said so in one line (not a
    line per test); under CI=true they stay, and their fixture fails them."""
    needing = [i for i in items if "pg_database" in getattr(i, "fixturenames", ())]
    if not needing or os.environ.get("CI", "").lower() == "true":
        return
    why = _probe(server_url())
    if why is None:
        return
    _SKIPPED.append(f"{unreachable(server_url(), why)} ({len(needing)} tests)")
    config.hook.pytest_deselected(items=needing)
    items[:] = [i for i in items if i not in needing]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _SKIPPED:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database made for this test session (dropped at its end)."""
    psycopg = pytest.importorskip("psycopg")
    server = server_url()
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = unreachable(server, text)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message.replace("skipped", "cannot run under CI=true", 1), pytrace=False)
        pytest.skip(message)
    name = f"gs_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(server, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A PostgreSQL URL whose tables live in a schema of this test's own."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return with_database(pg_database, urlsplit(pg_database).path.lstrip("/"), schema=schema)
