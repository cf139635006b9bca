"""The HTTP client's retries and concurrent batches, against a real `serve` behind a real proxy
process that drops connections and answers 429/503 with Retry-After on demand."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flaky_proxy import FlakyProxy
from gallery_sync.errors import GalleryRefusal, GalleryUnavailable
from gallery_sync.gallery import WriteRequest, http
from gallery_sync.gallery.http import HttpGallery
from gallery_sync.model import Application, Operation, OpKind
from helpers import APPS, Workspace, config
from served import Served, env_with, served_fixture  # noqa: F401

AGREED = frozenset({"ai-gallery-service", "digital-content-publishing"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}


def new_asset(asset_id: str, expected_revision: int | None = None) -> WriteRequest:
    body = {"title": "T", "visibility": "public", "versions": {"1.0.0": V1}}
    create = Operation(OpKind.CREATE, value=body)
    return WriteRequest(asset_id, expected_revision, (create,), accepted_agreements=AGREED)


def write(gallery: HttpGallery, requests: list[WriteRequest]) -> list[int | GalleryRefusal]:
    return [outcome for batch in gallery.write_assets(requests) for outcome in batch]


@pytest.fixture(name="proxy")
def proxy_fixture(served: Served) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(served.url)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(name="token")
def token_fixture(served: Served) -> str:
    token = served.token("acme")
    direct = HttpGallery(served.url, token=token)
    direct.add_application(Application("app", "cn-north-4"))
    direct.close()
    return token


@pytest.fixture(name="gallery")
def gallery_fixture(proxy: FlakyProxy, token: str) -> Iterator[HttpGallery]:
    gallery = HttpGallery(proxy.url, token=token)
    try:
        yield gallery
    finally:
        gallery.close()


def test_a_read_is_retried_through_a_dropped_connection_429_and_503_honouring_retry_after(
    proxy: FlakyProxy, gallery: HttpGallery, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert write(gallery, [new_asset("flowers")]) == [1]
    proxy.fail("GET", "/v1/state", 1, "drop")
    proxy.fail("GET", "/v1/state", 1, 429, retry_after="1")
    proxy.fail("GET", "/v1/state", 1, 503, retry_after="1")
    caps: list[float] = []
    uniform = random.uniform

    def jitter(low: float, high: float) -> float:
        caps.append(high)
        assert low == 0  # full jitter: anywhere from no wait to the exponential cap
        return uniform(low, high)

    monkeypatch.setattr(random, "uniform", jitter)
    started = time.monotonic()
    state = gallery.read_state()
    elapsed = time.monotonic() - started
    assert set(state.assets) == {"flowers"}
    assert len(proxy.requests("GET", "/v1/state")) == 4  # 3 failures, then the answer
    assert caps == [0.25, 0.5, 1.0]  # exponential backoff: the cap doubles each try
    assert elapsed >= 2.0  # two Retry-After: 1, honoured although the jitter drew less


def test_retries_are_bounded_in_tries_and_in_time(
    proxy: FlakyProxy, gallery: HttpGallery, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.fail("GET", "/v1/categories", http.TRIES, 503, retry_after="0")
    with pytest.raises(GalleryUnavailable) as raised:
        gallery.catalog(())
    assert len(proxy.requests("GET", "/v1/categories")) == http.TRIES == 5
    assert str(raised.value) == f"{proxy.url} answered 503: injected by the test proxy"

    monkeypatch.setattr(http, "RETRY_BUDGET", 2.0)  # waits of 1 s: two fit, a third does not
    proxy.fail("GET", "/v1/agreements", 100, 503, retry_after="1")
    started = time.monotonic()
    with pytest.raises(GalleryUnavailable):
        gallery.catalog(())
    assert len(proxy.requests("GET", "/v1/agreements")) == 3
    assert 2.0 <= time.monotonic() - started < 5.0


def test_a_batch_write_is_retried_with_its_key_and_written_once(
    proxy: FlakyProxy, gallery: HttpGallery, served: Served, token: str
) -> None:
    proxy.fail("POST", "/v1/writes", 1, 503, retry_after="1")
    proxy.fail("POST", "/v1/writes", 1, "lose")  # written, but the answer never arrives
    started = time.monotonic()
    assert write(gallery, [new_asset("flowers")]) == [1]
    assert time.monotonic() - started >= 1.0
    attempts = proxy.requests("POST", "/v1/writes")
    assert len(attempts) == 3
    keys = {attempt[2] for attempt in attempts}
    assert len(keys) == 1 and None not in keys  # every try carries the batch's one key
    direct = HttpGallery(served.url, token=token)
    try:
        assert [e.change["kind"] for e in direct.history("flowers")] == ["create"]
        assert direct.read_state().assets["flowers"].revision == 1
    finally:
        direct.close()


def test_a_write_without_an_idempotency_key_is_never_retried(
    proxy: FlakyProxy, gallery: HttpGallery, served: Served, token: str
) -> None:
    proxy.fail("POST", "/v1/applications", 1, 503, retry_after="0")
    with pytest.raises(GalleryUnavailable, match="answered 503"):
        gallery.add_application(Application("other", "cn-north-4"))
    proxy.fail("POST", "/v1/applications", 1, "lose")
    with pytest.raises(GalleryUnavailable, match="cannot reach"):
        gallery.add_application(Application("third", "cn-north-4"))
    attempts = proxy.requests("POST", "/v1/applications")
    assert len(attempts) == 2 and attempts[0][2] is None and attempts[1][2] is None
    direct = HttpGallery(served.url, token=token)
    try:
        known = {name for _, name in direct.catalog().applications}
    finally:
        direct.close()
    assert known == {"app", "third"}  # the lost answer's write happened once; the 503's never


def test_more_than_500_writes_go_in_concurrent_batches_and_come_back_in_order(
    proxy: FlakyProxy, gallery: HttpGallery
) -> None:
    refused_at = set(range(7, 1200, 97))  # writes the gallery refuses, at known places
    requests = [
        new_asset(f"m{i:04d}", expected_revision=3 if i in refused_at else None)
        for i in range(1200)
    ]
    outcomes = write(gallery, requests)
    assert len(outcomes) == 1200
    for i, outcome in enumerate(outcomes):
        if i in refused_at:
            assert isinstance(outcome, GalleryRefusal), i
            [diagnostic] = outcome.diagnostics
            assert (diagnostic.code, diagnostic.asset) == ("conflict", f"m{i:04d}")
        else:
            assert outcome == 1, (i, outcome)
    batches = proxy.requests("POST", "/v1/writes")
    assert len(batches) == 3  # 500 + 500 + 200
    assert len({b[2] for b in batches}) == 3  # a key of its own each
    log: dict[str, Any] = proxy.log()
    assert log["most_in_flight"] >= 2  # sent at once, not one after the other
    applied = {f"m{i:04d}" for i in range(1200)} - {f"m{i:04d}" for i in refused_at}
    assert set(gallery.read_state().assets) == applied


def test_apply_of_1200_new_assets_through_serve_sends_concurrent_batches_and_reports_all(
    proxy: FlakyProxy, served: Served, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path)
    env = env_with(served.token("acme-ml"), proxy.url)
    for name, region, image in APPS:
        args = ["apps", "add", name, "--region", region, *(["--image", image] if image else [])]
        assert ws.run(*args, env=env).code == 0
    ids = [f"m{i:04d}" for i in range(1200)]
    ws.write(
        "gallery.yaml",
        config(
            "".join(
                f"  {i}:\n    title: T\n    versions:\n      - version: '1.0.0'\n"
                "        ai_application: flowers-resnet50\n"
                for i in ids
            )
        ),
    )
    applied = ws.run("apply", "--auto-approve", env=env)
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 1200 applied, 0 failed, 0 not tried" in applied.out
    reported = re.findall(r"^\[(\d+)/1200\] (\S+): applied$", applied.out, re.MULTILINE)
    assert reported == [(str(n + 1), i) for n, i in enumerate(ids)]  # all, in the plan's order
    batches = proxy.requests("POST", "/v1/writes")
    assert len(batches) == 3 and len({b[2] for b in batches}) == 3
    assert proxy.log()["most_in_flight"] >= 2
    shown = ws.run("show", "--format", "json", env={**env, "GALLERY_URL": served.url})
    assert sorted(shown.json()) == ids  # the gallery holds exactly them
