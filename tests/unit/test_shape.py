"""The gallery's shape check: the schema's limits and patterns, read from the schema itself."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gallery_sync import shape
from gallery_sync.model import (
    Asset,
    DurationLimit,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from helpers import REPO

SHA = "ab" * 32
GOOD = Asset(
    "flowers",
    "acme-ml",
    "Flowers",
    (Version("1.0.0", "cn-north-4", "flowers-resnet50", "First."),),
    cover=SHA,
    description="d" * 50_000,
    categories=("computer-vision", "ocr"),
    visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bob", "ann@example.com"})),
    duration_limit=DurationLimit(3650, True),
)


def problems(asset: Asset) -> list[str]:
    found = shape.check_asset(asset)
    assert all(d.code == "schema" for d in found)
    return [d.message.removeprefix("the gallery refuses to store it: ") for d in found]


def test_a_well_formed_asset_at_every_limit_passes() -> None:
    assert problems(GOOD) == []
    assert problems(replace(GOOD, title="t" * 100, categories=("a", "b", "c", "d", "e"))) == []


def test_the_limits_are_the_schemas() -> None:
    on_disk = json.loads((REPO / "schemas" / "gallery.schema.json").read_text())
    asset = on_disk["$defs"]["asset"]["properties"]
    s = shape.shape()
    assert (s.title.min_length, s.title.max_length) == (
        asset["title"]["minLength"],
        asset["title"]["maxLength"],
    )
    assert s.description.max_length == asset["description"]["maxLength"] == 50_000
    assert s.version_description.max_length == 2000
    assert s.max_categories == 5 and s.days == (1, 3650)
    assert s.asset_id.pattern is not None
    assert s.asset_id.pattern.pattern == on_disk["$defs"]["slug"]["pattern"]


V = GOOD.versions[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"id": "../../../pwned"}, "asset id '../../../pwned' does not match"),
        ({"id": "flowers\n"}, "asset id 'flowers\\n' does not match"),
        ({"id": "a"}, "asset id 'a' does not match"),
        ({"publisher": "Acme ML"}, "publisher 'Acme ML' does not match"),
        ({"title": "x" * 5000}, "title is 5,000 characters; at most 100 allowed"),
        ({"title": ""}, "title is empty"),
        ({"title": 5}, "title must be a string, not int"),
        ({"description": "d" * 50_001}, "description is 50,001 characters; at most 50,000 allowed"),
        ({"cover": "covers/x.png"}, "cover 'covers/x.png' is not the sha256 of an image"),
        ({"categories": tuple("abcdef")}, "6 categories; at most 5 allowed"),
        ({"categories": ("ocr", "ocr")}, "categories are not unique"),
        ({"categories": ("Not A Slug",)}, "category 'Not A Slug' does not match"),
        (
            {"visibility": Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset())},
            "visibility specific_users needs at least one user",
        ),
        (
            {"visibility": Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bad user"}))},
            "user 'bad user' does not match",
        ),
        (
            {"visibility": Visibility(VisibilityLevel.PUBLIC, frozenset({"bob"}))},
            "visibility public cannot name users",
        ),
        ({"duration_limit": DurationLimit(0)}, "duration_limit days is 0; it must be 1 to 3650"),
        ({"duration_limit": DurationLimit(3651)}, "duration_limit days is 3651; it must be 1"),
        ({"status": "gone"}, "status 'gone' is not one of discontinued, released"),
        ({"versions": ()}, "an asset needs at least 1 version"),
        ({"versions": (V, V)}, "version '1.0.0' is listed twice"),
        ({"versions": (V._replace(version="1.0.0\n"),)}, "version '1.0.0\\n' does not match"),
        ({"versions": (V._replace(version="01.0.0"),)}, "version '01.0.0' does not match"),
        ({"versions": (V._replace(region="not a region"),)}, "region 'not a region' does not"),
        ({"versions": (V._replace(ai_application="../x"),)}, "ai_application '../x' does not"),
        (
            {"versions": (V._replace(description="n" * 2001),)},
            "version description is 2,001 characters; at most 2,000 allowed",
        ),
        ({"versions": (V._replace(status="later"),)}, "status 'later' is not one of"),
    ],
)
def test_each_way_out_of_shape_is_named(change: dict[str, object], expected: str) -> None:
    found = problems(replace(GOOD, **change))  # type: ignore[arg-type]
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_controls_are_shown_visibly_in_the_message() -> None:
    [message] = problems(replace(GOOD, id="\x1b]0;pwned\x07\u202e"))
    assert "\x1b" not in message and "\u202e" not in message
    assert "'\\x1b]0;pwned\\x07\\u202e'" in message


def test_a_long_value_is_cut_in_the_message() -> None:
    [message] = problems(replace(GOOD, id="x" * 500))
    assert "… (502 characters)" in message and len(message) < 200


@pytest.mark.parametrize(
    ("name", "region", "image", "expected"),
    [
        ("flowers-resnet50", "cn-north-4", None, []),
        ("summarizer", "xx-nowhere-9", "swr.x.com/a/b@sha256:" + "0" * 64, []),
        ("bad name!/../x", "cn-north-4", None, ["ai_application 'bad name!/../x' does not"]),
        ("app", "not a region", None, ["region 'not a region' does not"]),
        ("app\x1b[2J", "cn-north-4", None, ["ai_application 'app\\x1b[2J' does not"]),
        ("app", "cn-north-4\n", None, ["region 'cn-north-4\\n' does not"]),
        ("app", "cn-north-4", "a b", ["image 'a b' may hold no whitespace"]),
        ("app", "cn-north-4", "img\u202e", ["image 'img\\u202e' may hold no whitespace"]),
        ("app", "cn-north-4", " ", ["image is empty"]),
    ],
)
def test_applications_no_catalog_could_hold_are_named(
    name: str, region: str, image: str | None, expected: list[str]
) -> None:
    found = shape.check_application(name, region, image)
    assert len(found) == len(expected)
    for message, start in zip(found, expected, strict=True):
        assert message.startswith(start), message


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        ("swr.*.myhuaweicloud.com", True),
        ("docker.io", True),
        ("", False),
        ("  ", False),
        ("a b", False),
        ("x\ty", False),
        ("x" * 1025, False),
    ],
)
def test_registry_patterns(pattern: str, ok: bool) -> None:
    assert (shape.check_registry_pattern(pattern) == []) is ok


def test_status_enum_values_are_the_schemas() -> None:
    assert shape.shape().statuses == {s.value for s in Status}
