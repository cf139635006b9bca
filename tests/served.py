"""A real `gallery-sync serve` process on a free 127.0.0.1 port, for the tests of the served
gallery, and tokens for it (made as the operator makes them)."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import cli_env

START_TIMEOUT = 30.0


class Served:
    """One `serve` process; `stop()` ends it with SIGTERM and returns its exit code and output."""

    def __init__(self, store_url: str, log_dir: Path) -> None:
        self.store_url = store_url
        self._out = (log_dir / f"serve-{secrets.token_hex(3)}.out").open("w+")
        self._err = (log_dir / f"serve-{secrets.token_hex(3)}.err").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gallery_sync", "serve", "--store", store_url, "--port", "0"],
            stdout=self._out,
            stderr=self._err,
            env=cli_env(),
        )
        self.url = self._wait_for_start()
        self.output = ""

    def _wait_for_start(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=10) as client:  # one client: every poll's socket closed
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited {self.proc.returncode}: {self._read()}")
                self._out.seek(0)
                line = self._out.readline()
                if " on http://" in line:
                    url = line.rsplit(" on ", 1)[1].strip()
                    try:
                        if client.get(f"{url}/healthz").status_code == 200:
                            return url
                    except httpx.TransportError:
                        pass
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"serve did not answer /healthz in {START_TIMEOUT} s: {self._read()}")

    def _read(self) -> str:
        self._out.seek(0)
        self._err.seek(0)
        return self._out.read() + self._err.read()

    def token(self, account: str, role: str = "publisher") -> str:
        """A new token of `account`, made by the operator's command."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gallery_sync",
                "admin",
                "token",
                "create",
                "--account",
                account,
                "--role",
                role,
                "--store",
                self.store_url,
            ],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        return make_token(self.store_url, account, role)

    def stop(self) -> tuple[int, str]:
        if self._out.closed:
            return self.proc.returncode, self.output
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output = self._read()
        self._out.close()
        self._err.close()
        return self.proc.returncode, self.output


def make_token(store_url: str, account: str, role: str = "publisher") -> str:
    """A token kept directly in the store (only its hash), as `admin token create` does."""
    from gallery_sync.gallery import open_store
    from gallery_sync.gallery.accounts import token_hash

    token = "gs_" + secrets.token_urlsafe(24)
    store = open_store(store_url, create=True)
    try:
        store.create_token(account, role, token_hash(token))  # type: ignore[attr-defined]
    finally:
        store.close()
    return token


def env_with(token: str | None, url: str) -> dict[str, str]:
    out = {"GALLERY_URL": url}
    if token is not None:
        out["GALLERY_TOKEN"] = token
    return out


@pytest.fixture(name="served")
def served_fixture(tmp_path: Path) -> Iterator[Served]:
    """`serve` over a fresh SQLite store."""
    server = Served(f"sqlite:///{tmp_path / 'served.db'}", tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="served_pg")
def served_pg_fixture(pg_url: str, tmp_path: Path) -> Iterator[Served]:
    """`serve` over a fresh PostgreSQL schema."""
    server = Served(pg_url, tmp_path)
    try:
        yield server
    finally:
        server.stop()
