"""Saved plans in-process: hash, schema, what a stale plan names, and a fuzz of damaged files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_sync import rules
from gallery_sync.config import Config
from gallery_sync.diagnostics import CODES, Severity
from gallery_sync.engine import desired_state
from gallery_sync.errors import GalleryRefusal
from gallery_sync.model import (
    Application,
    Asset,
    Catalog,
    DurationLimit,
    GalleryState,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from gallery_sync.plan import AssetPlan, Plan, build_plan, content_hash, plan_asset
from gallery_sync.saved import (
    canonical_gallery,
    full_entry,
    read_plan_file,
    saved_chunks,
    saved_entry,
    what_changed,
    write_plan_file,
)

REPO = Path(__file__).resolve().parents[2]
V1 = Version("1.0.0", "cn-north-4", "app")
BASE = Asset("flowers", "acme", "Flowers", (V1,), revision=3)
CATALOG = Catalog(
    frozenset({"ocr"}),
    frozenset({"digital-content-publishing"}),
    {("cn-north-4", "app"): Application("app", "cn-north-4")},
)

CONTEXT = rules.Context(CATALOG, "acme", frozenset({"digital-content-publishing"}))


def a_plan() -> Plan:
    desired = {
        "flowers": replace(BASE, title="Roses", revision=0),
        "tulips": Asset("tulips", "acme", "Tulips", (V1,), categories=("ocr",)),
    }
    cfg = Config(
        publisher="acme",
        accepted_agreements=frozenset({"digital-content-publishing"}),
        assets=desired,
    )
    return build_plan(
        desired_state(cfg), GalleryState({"flowers": BASE}), CATALOG, gallery="sqlite:////g.db"
    )


def test_the_schema_names_every_diagnostic_code() -> None:
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    assert schema["$defs"]["diagnostic"]["properties"]["code"]["enum"] == sorted(CODES)


def test_a_saved_plan_reads_back_as_the_same_plan(tmp_path: Path) -> None:
    plan = a_plan()
    write_plan_file(plan, tmp_path / "p.json")
    again = read_plan_file(tmp_path / "p.json")
    assert again.to_json() == plan.to_json() and again.digest() == plan.digest()
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_the_plan_hash_covers_every_member_but_itself() -> None:
    body = a_plan().to_json()
    claimed = body.pop("plan_hash")
    assert content_hash(body) == claimed
    for key in body:
        edited = {**body, key: None}
        assert content_hash(edited) != claimed, key


def test_a_narrowing_is_refused_counted_nowhere_and_not_irreversible() -> None:
    public = replace(BASE, visibility=Visibility(VisibilityLevel.PUBLIC))
    cfg = Config(publisher="acme", assets={"flowers": replace(public, visibility=Visibility())})
    plan = build_plan(desired_state(cfg), GalleryState({"flowers": public}), CATALOG, gallery="g")
    assert plan.summary()["update"] == 0 and plan.summary()["errors"] == 1
    assert [d.code for d in plan.diagnostics] == ["visibility-narrowing"]
    assert plan.irreversible() == [] and plan.changed == []
    [asset] = plan.to_json()["assets"]
    assert asset["refused"] is True and asset["action"] == "update"


def test_what_changed_names_every_field_and_new_version() -> None:
    planned = a_plan().assets[0]
    assert planned.id == "flowers" and len(planned.read) == 8
    now = replace(
        BASE,
        description="theirs",
        duration_limit=DurationLimit(7),
        versions=(V1, Version("1.1.0", "cn-north-4", "app")),
    )
    assert what_changed(planned, now) == (
        "description, duration_limit changed; versions[1.1.0] added"
    )
    assert what_changed(planned, BASE) == (
        "written meanwhile, though no field differs from what was read"
    )


def test_canonical_gallery_resolves_relative_sqlite_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = f"sqlite:///{tmp_path.resolve()}/g.db"
    assert canonical_gallery("sqlite:///g.db") == absolute
    assert canonical_gallery("sqlite:///./x/../g.db") == absolute
    assert canonical_gallery(absolute) == absolute


# --- fuzz: a forger's (re-hashed) plan reaches the schema; it is a Plan or plan-invalid -----

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what a JSON file parses to
    st.text(max_size=30),
    st.just("x" * 60_000),
    st.builds(lambda: [[]]),  # fresh each time: a shared one could be put inside itself
    st.builds(lambda: {"": {}}),
    st.just("../../../pwned"),
    st.just("1.0.0\n"),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def rehashed(body: dict[str, Any]) -> str:
    """The hash a forger would give a saved plan: of the whole plan it stands for."""
    try:
        full = {k: v for k, v in body.items() if k != "form"}
        full["assets"] = [full_entry(a, body["publisher"]) for a in body["assets"]]
        return Plan.from_json(full).digest()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return "0" * 64  # no plan: the file is refused whatever its hash


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_edit_of_a_rehashed_plan_is_a_plan_or_plan_invalid(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    saved = data.draw(st.booleans())  # the compact form `plan --out` writes, or the whole
    body = orjson.loads(b"".join(saved_chunks(a_plan()))) if saved else a_plan().to_json()
    del body["plan_hash"]
    paths = [p for p in _paths(body) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        value = data.draw(VALUES)
        node: Any = body
        try:  # an earlier edit may have replaced the path's parent
            for part in path[:-1]:
                node = node[part]
            if isinstance(node, dict) and not isinstance(path[-1], str):
                continue  # a list index into a mapping an earlier edit put there: no JSON
            node[path[-1]] = value
        except (TypeError, IndexError, KeyError):
            continue
    body["plan_hash"] = rehashed(body) if saved else content_hash(body)
    file = tmp_path_factory.mktemp("fuzz") / "p.json"
    file.write_bytes(orjson.dumps(body))
    try:
        plan = read_plan_file(file)
    except GalleryRefusal as refusal:
        assert [d.code for d in refusal.diagnostics] == ["plan-invalid"]
        assert len(refusal.diagnostics[0].message) < 3000
        return
    plan.summary(), plan.irreversible(), plan.changed  # usable as apply uses it
    assert plan.digest() == body["plan_hash"]


# --- the saved form: each value once, the rest derived again on load ------------------------

NUMBERS = ["1.0.0", "1.1.0", "2.0.0"]
users = st.frozensets(st.sampled_from(["u1", "u2"]), min_size=1)
visibilities = st.one_of(
    st.just(Visibility()),
    st.just(Visibility(VisibilityLevel.PUBLIC)),
    users.map(lambda u: Visibility(VisibilityLevel.SPECIFIC_USERS, u)),
)


@st.composite
def assets(draw: st.DrawFn) -> Asset:
    numbers = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3, unique=True))
    versions = tuple(
        Version(
            n,
            "cn-north-4",
            draw(st.sampled_from(["app", "app2"])),
            draw(st.sampled_from(["", "notes", "other notes"])),
            draw(st.sampled_from(list(Status))),
        )
        for n in numbers
    )
    return Asset(
        "flowers",
        "acme",
        draw(st.sampled_from(["One", "Two"])),
        versions,
        cover=draw(st.sampled_from([None, "a" * 64])),
        description=draw(st.sampled_from(["", "Text\n"])),
        categories=draw(st.sampled_from([(), ("ocr",)])),
        visibility=draw(visibilities),
        duration_limit=draw(st.sampled_from([DurationLimit(), DurationLimit(30, True)])),
        status=draw(st.sampled_from(list(Status))),
        revision=4,
    )


@settings(max_examples=400, deadline=None)
@given(current=st.one_of(st.none(), assets()), desired=assets())
def test_an_asset_reads_back_from_its_saved_entry_as_planned(
    current: Asset | None, desired: Asset
) -> None:
    planned = plan_asset(current, desired)
    entry = orjson.loads(orjson.dumps(saved_entry(planned)))
    assert AssetPlan.from_json(full_entry(entry, "acme")) == planned
    if planned.operations:  # each value once: a create's value, or changes, or operations
        held = [k for k in ("create", "changes", "operations") if k in entry]
        assert len(held) == 1 or planned.refused
    if current is None and not planned.refused:  # a new asset is its value, less defaults
        assert entry.keys() <= {"id", "create", "subscribers"}
    violations = rules.check_asset(current, desired, CONTEXT)
    legal = not any(v.severity is Severity.ERROR for v in violations)
    if current is not None and planned.operations and legal:
        assert "operations" not in entry  # a legal change's writes always follow from it


def test_a_saved_plan_is_compact_and_one_asset_a_line(tmp_path: Path) -> None:
    plan = a_plan()
    write_plan_file(plan, tmp_path / "p.json")
    lines = (tmp_path / "p.json").read_bytes().splitlines()
    assert [orjson.loads(line.rstrip(b",")) for line in lines[1:-1]] == [
        {"id": "flowers", "action": "update", "revision": 3, "changes": [
            {"field": "title", "op": "change", "before": "Flowers", "after": "Roses",
             "risk": "reversible", "why": None}], "read": dict(plan.assets[0].read)},
        # A new asset: its value without the fields (and version fields) at their defaults.
        {"id": "tulips", "create": {"title": "Tulips", "categories": ["ocr"], "versions": {
            "1.0.0": {"region": "cn-north-4", "ai_application": "app"}}}},
    ]  # fmt: skip
    head = orjson.loads(lines[0] + b"]}")
    assert head["form"] == "saved" and head["plan_hash"] == plan.digest()
    assert "summary" not in head and lines[-1] == b"]}"


def test_the_plan_hash_is_streamed_over_the_same_bytes_as_the_whole_json() -> None:
    body = a_plan().to_json()
    claimed = body.pop("plan_hash")
    assert content_hash(body) == claimed == a_plan().digest()


@pytest.mark.parametrize("text", ["Ro\x7fses", "Ro\x9bses", "Ro\u202eses", "Rosés", "Roses"])
def test_a_saved_plan_holds_no_character_that_acts_on_a_terminal(text: str, tmp_path: Path) -> None:
    desired = {
        "flowers": replace(BASE, description=text, revision=0),
        "tulips": Asset("tulips", "acme", "Tulips", (V1,), description=text),
    }
    cfg = Config(publisher="acme", accepted_agreements=CONTEXT.accepted_agreements, assets=desired)
    state = GalleryState({"flowers": BASE})
    plan = build_plan(desired_state(cfg), state, CATALOG, gallery="sqlite:////g.db")
    write_plan_file(plan, tmp_path / "p.json")
    saved = (tmp_path / "p.json").read_text()
    assert not any(c in saved for c in "\x7f\x9b\u202e")  # each one a \u escape
    again = read_plan_file(tmp_path / "p.json")
    assert again.to_json() == plan.to_json()
    assert again.assets[1].operations[0].value["description"] == text
