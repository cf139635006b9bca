"""The shape check's fast path: values remembered as fitting one rule fit that rule only, and
anything else the fast path is unsure of is left to the full check, which names it."""

from __future__ import annotations

from dataclasses import replace

from gallery_sync import shape
from gallery_sync.model import Asset, Status, Version

GOOD = Asset(
    "flowers",
    "acme-ml",
    "Flowers",
    (Version("1.0.0", "cn-north-4", "flowers-resnet50", "First."),),
    categories=("ocr",),
)


class Text(str):
    """A string subclass: the fast path leaves it to the full check."""


def messages(asset: Asset) -> list[str]:
    return [d.message for d in shape.check_asset(asset)]


def test_a_value_known_for_one_rule_is_still_checked_against_another() -> None:
    assert messages(GOOD) == []  # "cn-north-4" is now known to fit as a region
    swapped = replace(GOOD, versions=(Version("cn-north-4", "cn-north-4", "flowers-resnet50"),))
    assert messages(swapped) == [
        "the gallery refuses to store it: version 'cn-north-4' does not match "
        + shape.shape().version.pattern.pattern  # type: ignore[union-attr]
    ]


def test_a_known_value_refused_where_its_type_is_wrong() -> None:
    assert messages(GOOD) == []
    typed = replace(GOOD, versions=(Version("1.0.0", "cn-north-4", 5),))  # type: ignore[arg-type]
    assert messages(typed) == [
        "the gallery refuses to store it: ai_application must be a string, not int"
    ]


def test_a_string_subclass_takes_the_full_check_and_passes() -> None:
    assert messages(replace(GOOD, title=Text("Flowers"))) == []


def test_a_repeated_version_and_a_bad_status_are_refused_after_known_values() -> None:
    assert messages(GOOD) == []
    twice = replace(GOOD, versions=GOOD.versions * 2)
    assert messages(twice) == ["the gallery refuses to store it: version '1.0.0' is listed twice"]
    status = replace(GOOD, status="released")  # type: ignore[arg-type]
    assert messages(status) and messages(replace(GOOD, status=Status.RELEASED)) == []


def test_only_values_that_recur_across_assets_are_kept() -> None:
    assets = [
        replace(
            GOOD,
            id=f"asset-{i}",
            title=f"Asset {i}",
            versions=(Version("1.0.0", "cn-east-3", f"app-{i}"),),
        )
        for i in range(50)
    ]
    assert all(shape.check_asset(a) == [] for a in assets)
    s = shape.shape()
    assert {"1.0.0", "cn-east-3"} <= set(s.version.known()) | set(s.region.known())
    # An asset's own values are checked every time, never kept: a big apply's would only grow.
    assert not {f"asset-{i}" for i in range(50)} & set(s.asset_id.known())
    assert not {f"Asset {i}" for i in range(50)} & set(s.title.known())
    assert not {f"app-{i}" for i in range(50)} & set(s.application.known())
    assert shape.check_asset(replace(assets[0], title="Asset\n0")) != []
