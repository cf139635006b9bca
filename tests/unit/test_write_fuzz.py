"""Property: the gallery's write path, fed generated writes valid and hostile (bad ids, overlong
fields, wrong enums and types, rule violations, wrong revisions), either stores an asset that
passes the shape check, or refuses with GalleryRefusal and leaves the database file (and its
WAL) byte-identical. Never another exception."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gallery_sync import shape
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import LOCAL, Principal, WriteRequest, open_gallery
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Application, Asset, Operation, OpKind

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
EXAMPLES = 300

hostile_text = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["../../../pwned", "flowers\n", "a", "x" * 65, "", " ", "\x1b]0;x\x07"]),
)
good_ids = st.sampled_from(["flowers", "flowers", "tulips"])
ids = st.one_of(good_ids, good_ids, good_ids, hostile_text)  # one_of picks branches alike
# Valid values drawn most of the time, so that writes get past the first check they meet.
version_numbers = st.one_of(
    st.sampled_from(["1.0.0", "1.1.0", "2.0.0"] * 3),
    st.sampled_from(["1.0.0\n", "01.0.0", "1.0", "x", ""]),
)
numbers = st.one_of(version_numbers, st.none())
titles = st.one_of(
    st.sampled_from(["Flowers", "t" * 100] * 3),
    st.sampled_from(["", "t" * 101, "t" * 5000]),
    st.integers(),
    st.none(),
)
visibilities = st.one_of(
    st.sampled_from(["only_me", "public"] * 3 + ["everyone", 3, None]),
    st.fixed_dictionaries(
        {"specific_users": st.one_of(st.lists(hostile_text, max_size=3), st.text(max_size=3))}
    ),
)
durations = st.one_of(
    st.sampled_from(["unlimited", None, "forever"]),
    st.fixed_dictionaries(
        {"days": st.one_of(st.integers(-5, 4000), st.just("9" * 5000), st.booleans())},
        optional={"auto_renew": st.one_of(st.booleans(), st.just("yes"))},
    ),
)
categories = st.one_of(
    st.lists(st.sampled_from(["ocr", "speech", "other", "not-a-cat", "Bad Cat"]), max_size=7),
    st.just("ocr"),
)
version_bodies = st.fixed_dictionaries(
    {},
    optional={
        "region": st.sampled_from(["cn-north-4"] * 4 + ["not a region", "cn-north-4\n"]),
        "ai_application": st.sampled_from(["app", "app2"] * 3 + ["nope", "../x"]),
        "description": st.sampled_from(["", "notes", "n" * 2001]),
        "status": st.sampled_from(["released"] * 3 + ["discontinued", "gone"]),
    },
)
asset_bodies = st.fixed_dictionaries(
    {"title": titles, "versions": st.dictionaries(version_numbers, version_bodies, max_size=3)},
    optional={
        "description": st.sampled_from(["", "d" * 50_001]),
        "categories": categories,
        "visibility": visibilities,
        "duration_limit": durations,
        "status": st.sampled_from(["released", "discontinued", "gone"]),
        "cover": st.sampled_from([None, "covers/x.png", "ab" * 32]),
    },
)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    kind = draw(st.sampled_from(list(OpKind)))
    value: Any = None
    version = None
    if kind is OpKind.CREATE:
        value = draw(asset_bodies)
    elif kind is OpKind.UPDATE_FIELDS:
        fields = draw(asset_bodies)
        value = {k: v for k, v in fields.items() if k != "versions" and draw(st.booleans())}
    elif kind is OpKind.SET_VISIBILITY:
        value = draw(visibilities)
    elif kind is OpKind.SET_DURATION:
        value = draw(durations)
    elif kind is OpKind.ADD_VERSION:
        version, value = draw(numbers), draw(version_bodies)
    elif kind is OpKind.SET_VERSION_DESCRIPTION:
        version, value = draw(numbers), draw(st.sampled_from(["new", "n" * 2001, None, 5]))
    elif kind is OpKind.DISCONTINUE_VERSION:
        version = draw(numbers)
    return Operation(kind, version, value)


V = {"region": "cn-north-4", "ai_application": "app"}
NEW = Operation(OpKind.CREATE, value={"title": "Tulips", "versions": {"1.0.0": V}})
# Well-formed operations, legal or not by the rules (narrowing, a changed source, ...).
well_formed = st.sampled_from(
    [
        Operation(OpKind.CREATE, value={"title": "Tulips", "versions": {"1.0.0": V}}),
        Operation(
            OpKind.CREATE,
            value={"title": "T", "status": "discontinued", "versions": {"1.0.0": V}},
        ),
        Operation(OpKind.UPDATE_FIELDS, value={"title": "New title"}),
        Operation(OpKind.UPDATE_FIELDS, value={"categories": ["ocr", "speech"]}),
        Operation(OpKind.UPDATE_FIELDS, value={"categories": ["not-a-category"]}),
        Operation(OpKind.SET_VISIBILITY, value="public"),
        Operation(OpKind.SET_VISIBILITY, value="only_me"),
        Operation(OpKind.SET_VISIBILITY, value={"specific_users": ["bob", "ann"]}),
        Operation(OpKind.SET_VISIBILITY, value={"specific_users": ["ann"]}),
        Operation(OpKind.SET_DURATION, value={"days": 30, "auto_renew": True}),
        Operation(OpKind.SET_DURATION, value="unlimited"),
        Operation(OpKind.ADD_VERSION, "1.1.0", {**V, "ai_application": "app2"}),
        Operation(OpKind.ADD_VERSION, "1.0.0", {**V, "ai_application": "app2"}),
        Operation(OpKind.ADD_VERSION, "0.9.0", {**V, "ai_application": "nope"}),
        Operation(OpKind.SET_VERSION_DESCRIPTION, "1.0.0", "new notes"),
        Operation(OpKind.DISCONTINUE_VERSION, "1.0.0"),
        Operation(OpKind.DISCONTINUE),
        Operation(OpKind.RELEASE),
    ]
)

writers = st.sampled_from(["acme-ml"] * 4 + ["mallory", "a"])
writes = st.builds(
    WriteRequest,
    asset_id=ids,
    expected_revision=st.sampled_from([None, 1, 1, 1, 0, 2]),
    operations=st.lists(
        st.one_of(well_formed, well_formed, well_formed, operations()), min_size=1, max_size=3
    ).map(tuple),
    accepted_agreements=st.sampled_from([AGREED, frozenset()]),
)


def fit(request: WriteRequest, current: Asset | None) -> WriteRequest:
    """The request as plan would shape it: the current revision; a create only of a new asset,
    and first."""
    ops = tuple(op for op in request.operations if op.kind is not OpKind.CREATE)
    if current is None:
        first = next((op for op in request.operations if op.kind is OpKind.CREATE), NEW)
        return replace(request, expected_revision=None, operations=(first, *ops))
    return replace(request, expected_revision=current.revision, operations=ops or (NEW,))


def fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        f = Path(f"{path}{suffix}")
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=st.lists(st.tuples(writers, writes, st.booleans()), min_size=1, max_size=4))
def test_a_refused_write_leaves_the_gallery_byte_identical(
    tmp_path: Path, requests: list[tuple[str, WriteRequest, bool]]
) -> None:
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "g.db"  # one gallery per example
    gallery = open_gallery(f"sqlite:///{path}", create=True, principal=Principal("acme-ml"))
    assert isinstance(gallery, GalleryService)
    gallery.add_application(Application("app", "cn-north-4"))
    gallery.add_application(Application("app2", "cn-north-4"))
    existing = {
        "title": "Flowers",
        "visibility": {"specific_users": ["bob"]},
        "versions": {"1.0.0": {"region": "cn-north-4", "ai_application": "app"}},
    }
    create = Operation(OpKind.CREATE, value=existing)
    gallery.write_asset(WriteRequest("flowers", None, (create,), AGREED))
    reader = GalleryService(gallery.store, LOCAL)
    try:
        for account, request, fresh in requests:
            writer = GalleryService(gallery.store, Principal(account))
            if fresh:  # planned on the gallery as it is: past the revision check
                request = fit(request, reader.read_state().assets.get(request.asset_id))
            before = fingerprint(path)
            try:
                revision = writer.write_asset(request)
            except GalleryRefusal as refusal:
                event(f"refused: {refusal.code}")
                assert fingerprint(path) == before, refusal
                continue
            event("stored" if fingerprint(path) != before else "no change")
            stored = reader.read_state().assets[request.asset_id]
            assert stored.revision == revision
            assert shape.check_asset(stored) == []
    finally:
        gallery.close()
