"""Drift recorded in the gallery (SPEC 9, shown by SPEC 8's "My assets" page): the service's
`report_drift` (own assets only, only changes of state), its route `POST /v1/drift` through a
real `serve`, and a real `reconcile` process whose drift a signed-in publisher then reads on
the served gallery's page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_reconcile import (
    Loop,
    Repo,
    Served,
    TheGallery,
    flowers,
    free_port,
    loops,  # noqa: F401  (the fixture that stops the loops a test started)
    wait_for,
)

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, Role
from gallery_sync.gallery.local import SqliteStore
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Asset
from gallery_sync.render.text import render_history
from helpers import APPS, Workspace
from web_gallery import add_token, keep

SHA = "0123456789abcdef0123456789abcdef01234567"


def _asset(asset_id: str, publisher: str) -> Asset:
    return Asset.from_json(
        asset_id,
        publisher,
        {"title": asset_id.title(), "visibility": "public", "categories": ["vision"]},
        revision=1,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(f"sqlite:///{tmp_path / 'gallery.db'}", create=True)
    keep(opened, [_asset("flowers", "acme-ml"), _asset("tulips", "acme-ml")])
    keep(opened, [_asset("roses", "other-co")])
    yield opened
    opened.close()


def _as(store: SqliteStore, account: str | None) -> GalleryService:
    return GalleryService(store, Principal(account, Role.PUBLISHER if account else None))


def _drift_entries(store: SqliteStore) -> list[tuple[str, dict[str, object]]]:
    return [
        (e.asset, e.change)
        for e in reversed(store.history())
        if e.change.get("kind") in ("drift", "in-step")
    ]


# --- the service -----------------------------------------------------------------------------


def test_only_changes_of_state_are_recorded(store: SqliteStore) -> None:
    acme = _as(store, "acme-ml")
    assert acme.report_drift({"flowers": ["title"], "tulips": []}, SHA) == ["flowers"]
    assert acme.report_drift({"flowers": ["title"], "tulips": []}, SHA) == []  # idle: nothing
    assert acme.report_drift({"flowers": ["title", "description"]}, SHA) == ["flowers"]
    assert acme.report_drift({"flowers": ["description", "title"]}, SHA) == []  # same set
    assert acme.report_drift({"flowers": []}, SHA) == ["flowers"]
    assert acme.report_drift({"flowers": [], "tulips": []}, SHA) == []
    assert _drift_entries(store) == [
        ("flowers", {"kind": "drift", "fields": ["title"], "commit": SHA}),
        ("flowers", {"kind": "drift", "fields": ["description", "title"], "commit": SHA}),
        ("flowers", {"kind": "in-step", "commit": SHA}),
    ]


def test_another_publishers_asset_is_not_found_and_nothing_is_written(
    store: SqliteStore,
) -> None:
    for findings in ({"flowers": ["title"], "roses": ["title"]}, {"nowhere": []}):
        with pytest.raises(GalleryRefusal) as refused:
            _as(store, "acme-ml").report_drift(findings, SHA)
        assert refused.value.code == "not-found"
        assert [d.asset for d in refused.value.diagnostics] == [
            a for a in findings if a != "flowers"
        ]
    with pytest.raises(GalleryRefusal) as anonymous:
        _as(store, None).report_drift({"flowers": ["title"]})
    assert anonymous.value.code == "unauthenticated"
    assert _drift_entries(store) == []


def test_many_assets_are_checked_against_one_read_of_the_log(store: SqliteStore) -> None:
    many = [_asset(f"model-{i:03d}", "acme-ml") for i in range(80)]
    keep(store, many)
    acme = _as(store, "acme-ml")
    findings = {a.id: ["title"] if i % 2 else [] for i, a in enumerate(many)}
    assert len(acme.report_drift(findings, SHA)) == 40
    assert acme.report_drift(findings, SHA) == []
    back = {a.id: [] for a in many}
    assert len(acme.report_drift(back, SHA)) == 40
    assert acme.report_drift(back, SHA) == []


def test_history_shows_drift_readably(store: SqliteStore) -> None:
    acme = _as(store, "acme-ml")
    acme.report_drift({"flowers": ["title", "versions[1.1.0]"]}, SHA)
    acme.report_drift({"flowers": []}, SHA)
    lines = render_history(acme.history("flowers")).splitlines()
    assert lines[0].endswith(" acme-ml flowers: in-step at git 0123456789ab")
    assert lines[1].endswith(" acme-ml flowers: drift title, versions[1.1.0] at git 0123456789ab")


# --- the route, through a real serve ---------------------------------------------------------


@pytest.fixture
def served(ws: Workspace, store: SqliteStore) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = {name: add_token(store, name) for name in ("acme-ml", "carol")}
    port = free_port()
    server = Served(ws, store.url, port)
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        server.stop()


def test_the_drift_route(served: tuple[str, dict[str, str]], store: SqliteStore) -> None:
    url, tokens = served

    def post(body: object, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{url}/v1/drift", json=body, headers=headers, timeout=10)

    ok = post({"findings": {"flowers": ["title"]}, "commit": SHA}, tokens["acme-ml"])
    assert (ok.status_code, ok.json()) == (200, {"recorded": ["flowers"]})
    again = post({"findings": {"flowers": ["title"]}, "commit": SHA}, tokens["acme-ml"])
    assert again.json() == {"recorded": []}
    # A consumer (an account that publishes nothing), another's asset, no token: refused.
    consumer = post({"findings": {"flowers": []}}, tokens["carol"])
    assert consumer.status_code == 404
    assert consumer.headers["content-type"].startswith("application/problem+json")
    assert consumer.json()["code"] == "not-found"
    assert post({"findings": {"roses": []}}, tokens["acme-ml"]).json()["code"] == "not-found"
    anonymous = post({"findings": {"flowers": []}})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    for bad in (
        {"findings": {"flowers": "title"}},
        {"findings": {"flowers": ["x" * 101]}},
        {"findings": {"flowers": ["f"] * 101}},
        {"findings": {}, "commit": "not a sha"},
        {"findings": {}, "extra": 1},
    ):
        refused = post(bad, tokens["acme-ml"])
        assert (refused.status_code, refused.json()["code"]) == (422, "request-invalid"), bad
    assert _drift_entries(store) == [
        ("flowers", {"kind": "drift", "fields": ["title"], "commit": SHA})
    ]


# --- end to end: reconcile beside serve, read on the "My assets" page -----------------------


def _my_assets_drift(url: str, token: str) -> str:
    """The Drift cell of 'flowers' on the My assets page, as a signed-in publisher reads it."""
    with httpx.Client(base_url=url, timeout=10) as browser:
        form = browser.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        signed = browser.post("/signin", data={"token": token, "csrf": csrf.group(1)})
        assert signed.status_code in (200, 303), signed.text
        page = browser.get("/my/assets")
    assert page.status_code == 200
    row = re.search(r'<span class="id">flowers</span>.*?</tr>', page.text, re.S)
    assert row is not None, page.text
    cell = re.search(r'data-label="Drift">(.*?)</td>', row.group(0), re.S)
    assert cell is not None
    return html.unescape(re.sub(r"<[^>]+>", "", cell.group(1))).strip()


def test_drift_the_reconciler_finds_is_shown_on_my_assets_then_in_step_after_revert(
    ws: Workspace,
    tmp_path: Path,
    loops: list[Loop],  # noqa: F811
) -> None:
    db = ws.root / ".gallery" / "gallery.db"
    store_url = f"sqlite:///{db}"
    token = ws.run("admin", "token", "create", "--account", "acme-ml", "--store", store_url)
    assert token.code == 0, token.err
    port = free_port()
    server = Served(ws, store_url, port)
    url = f"http://127.0.0.1:{port}"
    try:
        the = TheGallery(ws, url, {"GALLERY_TOKEN": token.out.strip()})
        for name, region, image in APPS:
            extra = ("--image", image) if image else ()
            assert the.run("apps", "add", name, "--region", region, *extra).code == 0
        repo = Repo(tmp_path / "git")
        applied = repo.commit(flowers(), "first")

        loop = Loop(ws, repo, the)
        loops.append(loop)
        loop.wait("applied", commit=applied)
        assert _my_assets_drift(url, token.out.strip()) == "unknown"  # never drifted
        the.write_outside_git(flowers("Edited by hand"))  # through the API
        recorded = loop.wait("drift-recorded", commit=applied)
        assert recorded["assets"] == ["flowers"]
        shown = _my_assets_drift(url, token.out.strip())
        assert re.fullmatch(r"drift: title \(\S+Z\)", shown), shown
        rounds = loop.status()["rounds"]
        wait_for(lambda: loop.status()["rounds"] >= rounds + 2, 10, "two idle rounds")
        assert len(loop.events("drift-recorded")) == 1  # idle rounds record nothing
        assert loop.terminate() == 0

        history = the.run("history", "flowers")
        assert f"flowers: drift title at git {applied[:12]}" in history.out

        reverting = Loop(ws, repo, the, "--drift", "revert")
        loops.append(reverting)
        reverting.wait("drift-reverted", commit=applied)
        wait_for(lambda: reverting.events("drift-recorded"), 10, "in step recorded")
        shown = _my_assets_drift(url, token.out.strip())
        assert re.fullmatch(r"in step \(\S+Z\)", shown), shown
        assert reverting.terminate() == 0
        kinds = [
            e["change"]["kind"]
            for e in the.run("history", "flowers", "--format", "json").json()
            if e["change"]["kind"] in ("drift", "in-step")
        ]
        assert kinds == ["in-step", "drift"]  # newest first: one entry per change of state
    finally:
        server.stop()
