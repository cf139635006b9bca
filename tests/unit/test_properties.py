"""Property: no sequence of desired states can break the gallery's rules, via plan or directly.

Random desired states are planned and applied one after the other on a real SQLite gallery.
Plans with errors are also forced through the gallery's write path, bypassing plan. Over the
whole history: visibility never narrowed, no version vanished, changed source or came back
from discontinued, a released asset always had a released version, and every refused write
left the database file byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gallery_sync.apply import apply_plan
from gallery_sync.config import Config
from gallery_sync.engine import desired_state
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, WriteRequest, open_gallery
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import (
    Application,
    Asset,
    GalleryState,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from gallery_sync.plan import build_plan, derive_operations

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
NUMBERS = ["1.0.0", "1.1.0", "2.0.0"]

visibilities = st.one_of(
    st.just(Visibility()),
    st.just(Visibility(VisibilityLevel.PUBLIC)),
    st.frozensets(st.sampled_from(["u1", "u2", "u3"]), min_size=1).map(
        lambda users: Visibility(VisibilityLevel.SPECIFIC_USERS, users)
    ),
)
statuses = st.sampled_from([Status.RELEASED] * 4 + [Status.DISCONTINUED])


@st.composite
def assets(draw: st.DrawFn, asset_id: str) -> Asset:
    numbers = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3, unique=True))
    versions = tuple(
        Version(
            n,
            "cn-north-4",
            draw(st.sampled_from(["app", "app2"])),
            draw(st.sampled_from(["", "notes"])),
            draw(statuses),
        )
        for n in numbers
    )
    return Asset(
        asset_id,
        "acme",
        draw(st.sampled_from(["One", "Two"])),
        versions,
        visibility=draw(visibilities),
        status=draw(statuses),
    )


desired_states = st.lists(
    st.fixed_dictionaries({}, optional={"aaa": assets("aaa"), "bbb": assets("bbb")}),
    min_size=1,
    max_size=6,
)


def fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        f = Path(str(path) + suffix)
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()


def check_history(old: GalleryState, new: GalleryState) -> None:
    for asset_id, before in old.assets.items():
        after = new.assets.get(asset_id)
        assert after is not None, f"{asset_id} vanished"
        assert after.visibility.level >= before.visibility.level
        if before.visibility.level is VisibilityLevel.PUBLIC:
            assert after.visibility.level is VisibilityLevel.PUBLIC
        if after.visibility.level is VisibilityLevel.SPECIFIC_USERS:
            assert before.visibility.users <= after.visibility.users
        for v in before.versions:
            now = after.version(v.version)
            assert now is not None, f"{asset_id} {v.version} vanished"
            assert (now.region, now.ai_application) == (v.region, v.ai_application)
            if v.status is Status.DISCONTINUED:
                assert now.status is Status.DISCONTINUED
    for asset in new.assets.values():
        if asset.status is Status.RELEASED:
            assert asset.released_versions, f"{asset.id} released with no released version"


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=desired_states)
def test_no_sequence_of_desired_states_breaks_a_rule(
    tmp_path: Path, steps: list[dict[str, Asset]]
) -> None:
    path = tmp_path / f"g-{hashlib.sha1(repr(steps).encode()).hexdigest()}.db"
    gallery = open_gallery(f"sqlite:///{path}", create=True, principal=Principal.embedded("acme"))
    assert isinstance(gallery, GalleryService)
    gallery.add_application(Application("app", "cn-north-4"))
    gallery.add_application(Application("app2", "cn-north-4"))
    state = gallery.read_state()
    for desired in steps:
        config = Config(publisher="acme", accepted_agreements=AGREED, assets=dict(desired))
        plan = build_plan(desired_state(config), state, gallery.catalog(), gallery=gallery.url)
        if plan.has_errors:
            # Force every asset's writes through the gallery anyway: each must be refused
            # whole, or be legal on its own.
            for asset_id, target in desired.items():
                current = state.assets.get(asset_id)
                ops = tuple(derive_operations(current, target))
                if not ops:
                    continue
                before = fingerprint(path)
                try:
                    gallery.write_asset(
                        WriteRequest(asset_id, current.revision if current else None, ops, AGREED)
                    )
                except GalleryRefusal as refusal:
                    event(f"refused: {refusal.code}")
                    assert fingerprint(path) == before
        else:
            event(f"applied {len(plan.changed)} assets")
            report = apply_plan(plan, gallery)
            assert report.ok, report
            after = gallery.read_state()
            again = build_plan(desired_state(config), after, gallery.catalog(), gallery=gallery.url)
            assert not again.has_changes  # apply converges in one run
        new_state = gallery.read_state()
        check_history(state, new_state)
        state = new_state
    gallery.close()
