"""The GET fast path answers as the route does: the same app over the same store, asked the
same requests with the fast path on and off, gives the same status, headers and body, for
every kind of caller and asset (a real SQLite file, the app in-process)."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import httpx
import pytest

from gallery_sync.gallery import Principal, Role, WriteRequest, open_store
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Application, Operation, OpKind
from gallery_sync.server.app import create_app
from served import make_token

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}
ASSETS: dict[str, Any] = {
    "open": "public",
    "mine": "only_me",
    "team": {"specific_users": ["bob"]},
    "long": "public",
}


def _create(store: Any, asset_id: str, visibility: Any) -> None:
    body: dict[str, Any] = {"title": "T", "visibility": visibility, "versions": {"1.0.0": V1}}
    if asset_id == "long":
        body["description"] = "Flowers, described at length. " * 100
    op = Operation(OpKind.CREATE, value=body)
    service = GalleryService(store, Principal("acme", Role.PUBLISHER))
    assert service.write_asset(WriteRequest(asset_id, None, (op,), AGREED)) == 1


@pytest.fixture(name="client")
def client_fixture(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    tokens = {account: make_token(url, account) for account in ("acme", "bob", "eve")}
    tokens["root"] = make_token(url, "root", "admin")
    store = open_store(url)
    store.add_application(Application("app", "cn-north-4"), "acme")
    for asset_id, visibility in ASSETS.items():
        _create(store, asset_id, visibility)
    store.close()
    app = create_app(url)
    return app, tokens


Asked = list[tuple[str, dict[str, str]]]


def _answers(app: Any, asked: Asked) -> list[tuple[Any, ...]]:
    """Status, headers (but the length) and the body as sent, of each request in turn."""

    async def run() -> list[tuple[Any, ...]]:
        transport = httpx.ASGITransport(app=app)
        out = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for path, headers in asked:
                async with http.stream("GET", path, headers=headers) as response:
                    body = b"".join([part async for part in response.aiter_raw()])
                raw = response.headers.multi_items()
                kept = sorted((k, v) for k, v in raw if k != "content-length")
                if response.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)  # the gzip header holds the time it was made
                out.append((response.status_code, kept, body))
        return out

    return asyncio.run(run())


def test_every_caller_gets_what_the_route_answers(client: Any) -> None:
    app, tokens = client
    callers: list[dict[str, str]] = [{}, {"Authorization": "Bearer gs_unknown"}]
    callers += [{"Authorization": "Basic x"}]
    callers += [{"Authorization": f"Bearer {t}"} for t in tokens.values()]
    paths = [f"/v1/assets/{a}" for a in [*ASSETS, "nowhere", "n%C3%B6"]]
    asked = [
        (path, {**caller, "Accept-Encoding": encoding})
        for caller in callers
        for encoding in ("gzip", "identity")
        for path in paths
    ]
    fast = _answers(app, asked)
    again = _answers(app, asked)  # now from the caches
    assert set(app.fast.cache.answers) == {*ASSETS, "nowhere", "nö"}
    fast_path, app.fast = app.fast, None
    try:
        routed = _answers(app, asked)
    finally:
        app.fast = fast_path
    assert fast == routed
    assert again == routed
    assert {status for status, _, _ in routed} == {200, 401, 404}
    gzipped = [h for _, h, _ in routed if ("content-encoding", "gzip") in h]
    assert gzipped, "the long asset is gzip'd for a client that asks"


def test_a_gzipd_answer_is_as_long_as_it_says(client: Any) -> None:
    app, _ = client

    async def run() -> tuple[int, bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            headers = {"Accept-Encoding": "gzip"}
            async with http.stream("GET", "/v1/assets/long", headers=headers) as response:
                assert response.headers["content-encoding"] == "gzip"
                raw = b"".join([part async for part in response.aiter_raw()])
                return int(response.headers["content-length"]), raw

    length, raw = asyncio.run(run())
    assert length == len(raw) and b"Flowers, described" in gzip.decompress(raw)
