"""One field table (model.FIELDS) drives every place that knows an asset's fields: a change
in any field is seen by same_state, the diff, the operations, the saved plan's read digests,
and survives the JSON round trip."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gallery_sync.diff import diff_asset
from gallery_sync.model import (
    ASSET_FIELDS,
    FIELDS,
    Asset,
    DurationLimit,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
    apply_operation,
)
from gallery_sync.plan import CONTENT_FIELDS, FIELD_OPERATIONS, derive_operations, field_digests

BASE = Asset(
    "flowers",
    "acme",
    "Flowers",
    (Version("1.0.0", "cn-north-4", "app"),),
    visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bob"})),
)
# For every field of the table, another value than BASE's.
OTHER = {
    "title": "Tulips",
    "cover": "ab" * 32,
    "description": "new",
    "categories": ("ocr",),
    "visibility": Visibility(VisibilityLevel.PUBLIC),
    "duration_limit": DurationLimit(30, auto_renew=True),
    "status": Status.DISCONTINUED,
}


def test_the_table_is_the_canonical_order_and_every_field_has_a_test_value() -> None:
    assert set(OTHER) == set(ASSET_FIELDS)  # a new field needs a value here
    assert list(BASE.to_json()) == [*ASSET_FIELDS, "versions"]
    # Each field is written by exactly one kind of operation.
    assert {*CONTENT_FIELDS, *FIELD_OPERATIONS, "status"} == set(ASSET_FIELDS)
    assert not set(CONTENT_FIELDS) & set(FIELD_OPERATIONS)


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_a_change_in_any_field_is_seen_everywhere(name: str) -> None:
    changed = replace(BASE, **{name: OTHER[name]})
    assert not BASE.same_state(changed)
    assert [c.path for c in diff_asset(BASE, changed)] == [(name,)]
    ops = derive_operations(BASE, changed)
    assert ops, name
    after = BASE
    for op in ops:
        after = apply_operation(after, op, asset_id=BASE.id, publisher=BASE.publisher)
    assert after.same_state(changed)  # the operations carry the change whole
    before, now = field_digests(BASE), field_digests(changed)
    assert [k for k in now if before[k] != now[k]] == [name]
    assert Asset.from_json(BASE.id, BASE.publisher, changed.to_json()) == changed


@pytest.mark.parametrize(
    "data",
    [
        {"title": "Flowers", "versions": {}},
        {**replace(BASE, **OTHER).to_json(), "categories": ["speech", "ocr"]},
        {
            "title": "Flowers",
            "visibility": {"specific_users": ["carol", "bob"]},
            "duration_limit": "unlimited",
            "versions": {"2.0.0": {"region": "r", "ai_application": "a", "status": "discontinued"}},
        },
    ],
)
def test_from_json_reads_each_field_as_the_table_loads_it(data: dict[str, object]) -> None:
    # Asset.from_json writes the table's `load`s out, for speed: they must say the same.
    built = Asset.from_json("flowers", "acme", data, revision=3)
    assert {f.name: getattr(built, f.name) for f in FIELDS} == {
        f.name: f.load(data) for f in FIELDS
    }
    assert (built.id, built.publisher, built.revision) == ("flowers", "acme", 3)
    versions = data["versions"]
    assert isinstance(versions, dict)
    assert built.versions == tuple(Version.from_json(n, v) for n, v in versions.items())


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_to_json_writes_each_field_as_the_table_dumps_it(name: str) -> None:
    for asset in (BASE, replace(BASE, **{name: OTHER[name]})):
        out = asset.to_json()
        assert list(out) == [*ASSET_FIELDS, "versions"]
        assert {f.name: out[f.name] for f in FIELDS} == {
            f.name: f.dump(getattr(asset, f.name)) for f in FIELDS
        }
        assert out["versions"] == {v.version: v.to_json() for v in asset.versions}
