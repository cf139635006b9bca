"""What a plan holds at scale (issue 15): a new asset's changes derived from its create's value
rather than held, and a config's bytes let go after load and read again, checked, for a place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from gallery_sync.config import load_config
from gallery_sync.config.loader import ConfigChanged
from gallery_sync.diagnostics import Place
from gallery_sync.diff import diff_new
from gallery_sync.model import (
    Asset,
    DurationLimit,
    Operation,
    OpKind,
    SubscriberSummary,
    Version,
    Visibility,
    VisibilityLevel,
)
from gallery_sync.plan import (
    Action,
    NewChanges,
    NewOperations,
    PlannedChange,
    ReadRecord,
    Risk,
    _classify_new,
    field_digests,
    irreversible_changes,
    plan_asset,
    read_record,
)
from gallery_sync.saved import saved_entry

V1 = Version("1.0.0", "cn-north-4", "app", "first")
V2 = Version("1.1.0", "cn-north-4", "app2", "second")
BASE = Asset("flowers", "acme", "Flowers", (V2, V1), categories=("ocr",))
SHAPES = [
    BASE,
    replace(BASE, visibility=Visibility(VisibilityLevel.PUBLIC), cover="ab" * 32),
    replace(
        BASE,
        visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"b", "a"})),
        duration_limit=DurationLimit(30, True),
    ),
    replace(BASE, versions=()),
    replace(BASE, versions=(), visibility=Visibility(VisibilityLevel.PUBLIC)),
]


def held(asset: Asset) -> tuple[PlannedChange, ...]:
    """The changes as a plan held them before: every one built from the canonical form."""
    return tuple(map(_classify_new, diff_new(asset.to_json())))


@pytest.mark.parametrize("asset", SHAPES)
def test_a_new_assets_changes_are_the_ones_it_held(asset: Asset) -> None:
    planned = plan_asset(None, asset)
    assert planned.action is Action.CREATE and isinstance(planned.changes, NewChanges)
    expected = held(asset)
    assert planned.changes == expected and expected == planned.changes
    assert tuple(planned.changes) == expected and len(planned.changes) == len(expected)
    assert planned.changes[-1] == expected[-1]
    assert planned.changes.to_json() == [c.to_json() for c in expected]
    assert planned.to_json()["changes"] == [c.to_json() for c in expected]
    irreversible = [c for c in expected if c.risk is Risk.IRREVERSIBLE]
    assert irreversible_changes(planned) == irreversible
    assert planned.risk is (Risk.IRREVERSIBLE if irreversible else Risk.REVERSIBLE)
    assert planned == replace(planned, changes=expected)


# The head every config of these tests starts with.
HEAD = """\
apiVersion: gallery-sync/v1
publisher:
  account: acme-ml
defaults:
  region: cn-north-4
assets:
"""
CONFIG = (
    HEAD
    + """\
  flowers:
    title: Flowers
    versions:
      - version: 1.0.0
        ai_application: app
"""
)


def test_a_loaded_config_holds_no_bytes_and_reads_them_again_for_a_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gallery.yaml"
    path.write_text(CONFIG)
    config = load_config([str(path)])
    doc = config.asset_docs["flowers"]
    assert doc.source == b"" and doc.data is None
    assert config.place("flowers", "1.0.0", "ai_application") == Place(str(path), 11, 9)
    assert config.locate([("flowers", None, "title")]) == {
        ("flowers", None, "title"): Place(str(path), 8, 5)
    }


@pytest.mark.parametrize("change", ["edited", "removed"])
def test_a_config_changed_since_its_load_is_said_so_not_pointed_into(
    tmp_path: Path, change: str
) -> None:
    path = tmp_path / "gallery.yaml"
    path.write_text(CONFIG)
    config = load_config([str(path)])
    if change == "edited":  # the same length: lines that would point at the wrong fields
        path.write_text(CONFIG.replace("Flowers", "Flower2"))
    else:
        path.unlink()
    with pytest.raises(ConfigChanged, match="changed while gallery-sync was reading it"):
        config.place("flowers", None, "title")
    with pytest.raises(ConfigChanged, match=str(path)):
        config.locate([("flowers", None, "title")])


def test_a_plans_read_record_is_the_digest_of_each_field_packed() -> None:
    import hashlib

    import orjson

    current = replace(BASE, revision=3)
    body = current.to_json()
    versions = body.pop("versions")
    named = {**body, **{f"versions[{n}]": v for n, v in versions.items()}}
    expected = {
        name: hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        for name, value in named.items()
    }
    planned = plan_asset(current, replace(current, title="Flowers 2"))
    assert isinstance(planned.read, ReadRecord)
    assert planned.read == expected and dict(planned.read) == expected
    assert list(planned.read) == list(expected) and field_digests(current) == expected
    assert planned.to_json()["read"] == expected
    other = read_record(replace(current, id="roses", title="Roses"))
    assert other._names is planned.read._names  # the same version numbers: names shared
    assert (
        other["title"] != planned.read["title"]
        and other["versions[1.0.0]"] == expected["versions[1.0.0]"]
    )


@pytest.mark.parametrize("asset", SHAPES)
def test_a_new_assets_create_is_built_each_time_it_is_asked_for(asset: Asset) -> None:
    planned = plan_asset(None, asset)
    assert isinstance(planned.operations, NewOperations) and planned.operations.asset is asset
    assert planned.operations.__slots__ == ("asset",)  # holds no value
    expected = (Operation(OpKind.CREATE, value=asset.to_json()),)
    assert planned.operations == expected and tuple(planned.operations) == expected
    assert len(planned.operations) == 1 and planned.operations[0] == expected[0]
    assert [op.to_json() for op in planned.operations] == planned.to_json()["operations"]


def test_irreversible_changes_are_counted_without_being_held() -> None:
    from gallery_sync.plan import Plan
    from gallery_sync.render.values import irreversible_by_asset

    current = replace(BASE, revision=1)
    assets = (
        *(plan_asset(None, replace(a, id=f"a{i}")) for i, a in enumerate(SHAPES)),
        plan_asset(current, replace(current, visibility=Visibility(VisibilityLevel.PUBLIC))),
        plan_asset(current, replace(current, title="Only reversible")),
    )
    plan = Plan("acme", "g", assets, ())
    expected = [
        (a, [c for c in a.changes if c.risk is Risk.IRREVERSIBLE])
        for a in assets
        if any(c.risk is Risk.IRREVERSIBLE for c in a.changes)
    ]
    grouped = irreversible_by_asset(plan)
    assert list(grouped) == expected and len(grouped) == len(expected) == 5
    assert grouped.first(2) == expected[:2]
    assert grouped.total == sum(len(found) for _, found in expected) == len(plan.irreversible())


@pytest.mark.parametrize(
    "extra",
    [{}, {"refused": True}, {"subscribers": SubscriberSummary(2, None)}, {"read": {"title": "0f"}}],
)
def test_a_new_assets_saved_entry_is_the_one_of_its_full_json(extra: dict[str, Any]) -> None:
    lazy = replace(plan_asset(None, SHAPES[2]), **extra)
    held_ = replace(lazy, changes=tuple(lazy.changes), operations=tuple(lazy.operations))
    assert not isinstance(held_.operations, NewOperations)
    assert orjson.dumps(saved_entry(lazy)) == orjson.dumps(saved_entry(held_))


def test_long_output_goes_out_in_pieces_cut_after_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    from gallery_sync import cli

    pieces: list[str] = []
    echo = click.echo

    def spy(message: str, **kwargs: Any) -> None:
        pieces.append(message)
        echo(message, **kwargs)

    monkeypatch.setattr(cli, "_PIECE", 25)
    monkeypatch.setattr(click, "echo", spy)
    lines = [f"line {i}: " + "x" * i for i in range(12)]
    cli.echo_lines(iter(lines))
    assert capsys.readouterr().out == "\n".join(lines) + "\n"
    assert len(pieces) > 3 and all(p.endswith("\n") for p in pieces)


def test_the_json_plan_is_written_piece_by_piece_as_json_dumps_would_whole() -> None:
    import gc

    from gallery_sync.diagnostics import Diagnostic
    from gallery_sync.plan import Plan
    from gallery_sync.render.escape import JSON_PIECE as _PIECE
    from gallery_sync.render.escape import json_text
    from gallery_sync.render.json_ import plan_pieces

    odd = replace(BASE, title="T\u2028\x85é", description="two\nlines " + "x" * _PIECE)
    found = Diagnostic.of("schema", "bad \x85 thing", asset="a1")
    for assets in [(), tuple(plan_asset(None, replace(odd, id=f"a{i}")) for i in range(3))]:
        for diagnostics in [(), (found, found)]:
            plan = Plan("acme", "g", assets, diagnostics)
            pieces = list(plan_pieces(plan))
            assert "".join(pieces) == json_text(plan.to_json())
            assert len(pieces) > (2 if assets else 0)
    many = Plan(
        "acme", "g", tuple(plan_asset(None, replace(BASE, id=f"b{i}")) for i in range(300)), ()
    )
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as the CLI runs: nothing the pieces leave in cycles is ever freed
    try:
        before = len(gc.get_objects())
        for _ in plan_pieces(many):
            pass
        assert len(gc.get_objects()) - before < 300  # not a set of closures per asset
    finally:
        if enabled:
            gc.enable()


STATIC = (
    HEAD
    + """\
  first:
    title: First
    categories:
      - ocr
      - no-such
      - other-bad
    versions:
      - {version: 1.0.0, ai_application: app}
  second:
    title: Second
    categories: [speech, no-such]
    versions:
      - {version: 1.0.0, ai_application: app, status: discontinued}
"""
)


@pytest.mark.parametrize("full_reader", [False, True])
def test_validates_findings_are_placed_from_one_read_of_the_file(
    tmp_path: Path, full_reader: bool
) -> None:
    from gallery_sync.config.static import check_static

    # An anchor sends the file to the full reader, which knows every place at load.
    text = STATIC.replace("title: First", "title: &t First") if full_reader else STATIC
    (tmp_path / "gallery.yaml").write_text(text)
    config = load_config([str(tmp_path / "gallery.yaml")])
    found = [(d.code, d.asset, d.place.line, d.place.column) for d in check_static(config)]
    assert found == [
        ("unknown-category", "first", 11, 9),
        ("unknown-category", "first", 12, 9),
        ("unknown-category", "second", 17, 26),
        ("version-discontinue-last", "second", 15, 3),  # no status: the asset
    ]
    assert (config.asset_docs["first"]._positions is not None) is full_reader
