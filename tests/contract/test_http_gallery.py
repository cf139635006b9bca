"""The gallery contract, run by the HTTP client against a real `serve` process: on SQLite
and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_gallery_contract import As, GalleryContract

from gallery_sync.gallery import Gallery
from gallery_sync.gallery.http import HttpGallery
from gallery_sync.model import Application
from served import Served


def _as(server: Served, opened: list[HttpGallery]) -> As:
    tokens: dict[str, str] = {}

    def as_(account: str | None) -> Gallery:
        if account is None:
            gallery = HttpGallery(server.url, token="")
        else:
            if account not in tokens:
                tokens[account] = server.token(account)
                first = HttpGallery(server.url, token=tokens[account])
                first.add_application(Application("app", "cn-north-4"))
                first.add_application(Application("app2", "cn-north-4"))
                first.close()
            gallery = HttpGallery(server.url, token=tokens[account])
        opened.append(gallery)
        return gallery

    return as_


def _serving(store_url: str, tmp_path: Path) -> Iterator[As]:
    server = Served(store_url, tmp_path)
    opened: list[HttpGallery] = []
    try:
        yield _as(server, opened)
    finally:
        for gallery in opened:
            gallery.close()
        server.stop()


class TestHttpGalleryOnSqlite(GalleryContract):
    @pytest.fixture
    def as_(self, tmp_path: Path) -> Iterator[As]:  # type: ignore[override]
        yield from _serving(f"sqlite:///{tmp_path / 'served.db'}", tmp_path)


class TestHttpGalleryOnPostgres(GalleryContract):
    @pytest.fixture
    def as_(self, tmp_path: Path, pg_url: str) -> Iterator[As]:  # type: ignore[override]
        yield from _serving(pg_url, tmp_path)
