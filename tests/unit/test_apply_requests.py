"""apply makes each write request when the gallery reaches it and lets it go after: the
create values of every new asset are never held at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gallery_sync import apply as apply_module
from gallery_sync.apply import apply_plan
from gallery_sync.config import Config
from gallery_sync.engine import desired_state
from gallery_sync.gallery import Principal, WriteRequest, open_gallery
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Application, Asset, Status, Version
from gallery_sync.plan import build_plan

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})


class Counted(WriteRequest):
    """A WriteRequest that counts how many were made and how many are alive at once."""

    __slots__ = ()
    made = 0
    alive = 0
    most = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        type(self).made += 1
        type(self).alive += 1
        type(self).most = max(type(self).most, type(self).alive)

    def __del__(self) -> None:
        type(self).alive -= 1


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[Counted]:
    Counted.made = Counted.alive = Counted.most = 0
    monkeypatch.setattr(apply_module, "WriteRequest", Counted)
    return Counted


def gallery_and_plan(tmp_path: Path, count: int) -> tuple[GalleryService, Any, dict[str, Asset]]:
    gallery = open_gallery(
        f"sqlite:///{tmp_path / 'g.db'}", create=True, principal=Principal.embedded("acme")
    )
    assert isinstance(gallery, GalleryService)
    gallery.add_application(Application("app", "cn-north-4"))
    assets = {
        f"asset-{i:03d}": Asset(
            f"asset-{i:03d}",
            "acme",
            f"Asset {i}",
            (Version("1.0.0", "cn-north-4", "app", "", Status.RELEASED),),
        )
        for i in range(count)
    }
    config = Config(publisher="acme", accepted_agreements=AGREED, assets=assets)
    state = gallery.read_state()
    plan = build_plan(desired_state(config), state, gallery.catalog(), gallery=gallery.url)
    assert len(plan.changed) == count and not plan.has_errors
    return gallery, plan, assets


def test_each_request_is_made_once_and_all_are_written(
    tmp_path: Path, counted: type[Counted]
) -> None:
    gallery, plan, assets = gallery_and_plan(tmp_path, 40)
    report = apply_plan(plan, gallery)
    assert report.ok and [r.revision for r in report.results] == [1] * 40
    assert counted.made == 40  # gathered into a batch, then written: made once
    held = gallery.read_state().assets
    assert {i: a.at_revision(0) for i, a in held.items()} == {
        i: a.at_revision(0) for i, a in assets.items()
    }


def test_no_more_requests_are_held_than_kept(
    tmp_path: Path, counted: type[Counted], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply_module, "KEPT_REQUESTS", 5)
    gallery, plan, assets = gallery_and_plan(tmp_path, 40)
    report = apply_plan(plan, gallery)
    assert report.ok and len(report.results) == 40
    assert set(gallery.read_state().assets) == set(assets)
    # The kept ones, and the one the gallery is looking at as a further one is made.
    assert counted.most <= 5 + 2
    assert counted.alive == 0  # none is kept once apply is done


def test_a_view_of_the_requests_is_the_slice_of_their_list(tmp_path: Path) -> None:
    _, plan, _ = gallery_and_plan(tmp_path, 12)
    made = [
        WriteRequest(a.id, a.revision, tuple(a.operations), AGREED, "h", "") for a in plan.changed
    ]

    def make(index: int) -> WriteRequest:
        return made[index]

    requests = apply_module._Requests(make, range(len(made)))
    assert list(requests) == made and len(requests) == 12
    assert list(requests[3:9]) == made[3:9] and list(requests[3:9][2:]) == made[5:9]
    assert requests[3:9][-1] == made[8] and requests[-1] == made[-1]
    with pytest.raises(IndexError):
        requests[12]
