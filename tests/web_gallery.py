"""The web gallery for the browser tests: a store seeded as it is (no rule asked), tokens,
and the gallery served by a real uvicorn process on a free loopback port."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from gallery_sync.gallery.accounts import token_hash
from gallery_sync.gallery.local import SqliteStore
from gallery_sync.gallery.service import AuditRecord, StoredWrite
from gallery_sync.model import Asset

WEB_TESTS = Path(__file__).parent / "web"


def keep(store: SqliteStore, assets: list[Asset], audit: Sequence[AuditRecord] = ()) -> None:
    """Store assets as they are, the first the newest, and audit records with them."""
    with store.transaction() as tx:
        tx.store([StoredWrite(a, a.revision or 1, {}, []) for a in assets], list(audit))
    for age, a in enumerate(assets):
        store.db.execute(
            "UPDATE assets SET created_at = ? WHERE id = ?",
            (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(2_000_000_000 - age * 60)), a.id),
        )


def keep_cover(store: SqliteStore, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    store.db.execute("INSERT INTO covers VALUES (?, ?)", (sha, data))
    return sha


def add_token(store: SqliteStore, account: str, role: str = "publisher") -> str:
    token = f"gs_test-{account}-token-0123456789abcdef"
    store.create_token(account, role, token_hash(token))
    return token


@contextlib.contextmanager
def serving(store_url: str) -> Iterator[str]:
    """The web gallery over `store_url` in a process of its own: its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(WEB_TESTS / "serve_for_tests.py"), store_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(WEB_TESTS)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("serving on "):
            process.kill()
            raise AssertionError(f"the web gallery did not start: {line}{process.communicate()[1]}")
        yield line.removeprefix("serving on ").strip()
    finally:
        process.terminate()
        try:
            _, errors = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
        assert "Traceback" not in errors, errors
