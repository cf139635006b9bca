"""Diff and plan: field changes, apply order, risk classes, summary, JSON round trip."""

from __future__ import annotations

from dataclasses import replace

from gallery_sync.diff import ChangeOp, diff_asset
from gallery_sync.engine import desired_state
from gallery_sync.model import (
    Asset,
    DurationLimit,
    GalleryState,
    OpKind,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
    apply_operation,
)
from gallery_sync.plan import Action, Plan, Risk, derive_operations, plan_asset

V1 = Version("1.0.0", "cn-north-4", "app", "first")
V2 = Version("1.1.0", "cn-north-4", "app2", "second")
BASE = Asset("flowers", "acme", "Flowers", (V1,))


def test_equal_assets_have_no_changes() -> None:
    assert diff_asset(BASE, replace(BASE, categories=())) == []


def test_diff_reports_whole_fields_and_version_fields() -> None:
    after = replace(
        BASE,
        title="Flowers 2",
        categories=("ocr",),
        versions=(V1._replace(description="better"), V2),
    )
    changes = diff_asset(BASE, after)
    assert [(c.op, c.field, c.before, c.after) for c in changes] == [
        (ChangeOp.CHANGE, "title", "Flowers", "Flowers 2"),
        (ChangeOp.CHANGE, "categories", [], ["ocr"]),
        (ChangeOp.CHANGE, "versions[1.0.0].description", "first", "better"),
        (ChangeOp.ADD, "versions[1.1.0]", None, V2.to_json()),
    ]


def test_versions_sort_numerically_not_as_text() -> None:
    ten = Version("1.10.0", "cn-north-4", "app")
    nine = Version("1.9.0", "cn-north-4", "app")
    changes = diff_asset(BASE, replace(BASE, versions=(V1, ten, nine)))
    assert [c.field for c in changes] == ["versions[1.9.0]", "versions[1.10.0]"]


def test_operations_follow_the_apply_order_of_the_spec() -> None:
    before = replace(BASE, status=Status.DISCONTINUED, versions=(V1, V2))
    after = replace(
        before,
        status=Status.RELEASED,
        title="T",
        visibility=Visibility(VisibilityLevel.PUBLIC),
        duration_limit=DurationLimit(30, True),
        versions=(
            V1._replace(status=Status.DISCONTINUED),
            V2._replace(description="x"),
            Version("2.0.0", "cn-north-4", "app"),
        ),
    )
    kinds = [op.kind for op in derive_operations(before, after)]
    assert kinds == [
        OpKind.RELEASE,
        OpKind.UPDATE_FIELDS,
        OpKind.SET_VISIBILITY,
        OpKind.SET_DURATION,
        OpKind.ADD_VERSION,
        OpKind.SET_VERSION_DESCRIPTION,
        OpKind.DISCONTINUE_VERSION,
    ]
    assert kinds == sorted(kinds, key=lambda k: k.rank)
    # And the operations, applied in order, reach the desired state.
    state: Asset | None = before
    for op in derive_operations(before, after):
        state = apply_operation(state, op, asset_id="flowers", publisher="acme")
    assert state is not None and state.to_json() == after.to_json()


def test_discontinue_asset_comes_last() -> None:
    after = replace(BASE, title="Old", status=Status.DISCONTINUED)
    kinds = [op.kind for op in derive_operations(BASE, after)]
    assert kinds == [OpKind.UPDATE_FIELDS, OpKind.DISCONTINUE]
    assert plan_asset(BASE, after).action is Action.DISCONTINUE


def test_actions() -> None:
    assert plan_asset(None, BASE).action is Action.CREATE
    assert plan_asset(BASE, BASE).action is Action.NOOP
    assert plan_asset(BASE, replace(BASE, title="x")).action is Action.UPDATE
    gone = replace(BASE, status=Status.DISCONTINUED)
    assert plan_asset(gone, BASE).action is Action.RELEASE


def test_risk_classes() -> None:
    widened = plan_asset(BASE, replace(BASE, visibility=Visibility(VisibilityLevel.PUBLIC)))
    assert widened.risk is Risk.IRREVERSIBLE
    assert "public is final" in widened.changes[0].why
    retitled = plan_asset(BASE, replace(BASE, title="x"))
    assert retitled.risk is Risk.REVERSIBLE
    added = plan_asset(BASE, replace(BASE, versions=(V1, V2)))
    assert added.risk is Risk.IRREVERSIBLE
    assert plan_asset(None, BASE).risk is Risk.IRREVERSIBLE
    discontinued_version = plan_asset(
        replace(BASE, versions=(V1, V2)),
        replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2)),
    )
    assert discontinued_version.risk is Risk.IRREVERSIBLE
    limited = plan_asset(BASE, replace(BASE, duration_limit=DurationLimit(10)))
    assert limited.risk is Risk.REVERSIBLE


def test_plan_json_round_trip(tmp_path: object) -> None:
    from gallery_sync.config import Config
    from gallery_sync.model import Catalog
    from gallery_sync.plan import build_plan

    cfg = Config(publisher="acme", assets={"flowers": replace(BASE, versions=(V1, V2))})
    state = GalleryState({"flowers": replace(BASE, revision=4)})
    catalog = Catalog(frozenset(), frozenset(), {})
    plan = build_plan(desired_state(cfg), state, catalog, gallery="sqlite:///x.db")
    again = Plan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json()
    assert again.assets[0].revision == 4
    # The error (app2 is not in the empty catalog) refuses the asset's update: it is shown,
    # marked refused, and counted as no update.
    assert again.assets[0].refused and again.changed == []
    assert plan.summary() == {
        "create": 0,
        "update": 0,
        "discontinue": 0,
        "release": 0,
        "no-op": 0,
        "unmanaged": 0,
        "errors": 1,
        "warnings": 0,
    }


def test_publisher_mismatch_when_credentials_belong_to_another_account() -> None:
    from gallery_sync.config import Config
    from gallery_sync.model import Catalog
    from gallery_sync.plan import build_plan

    cfg = Config(publisher="acme")
    plan = build_plan(
        desired_state(cfg),
        GalleryState({}),
        Catalog(frozenset(), frozenset(), {}),
        gallery="g",
        account="other",
    )
    assert [d.code for d in plan.diagnostics] == ["publisher-mismatch"]
    plan = build_plan(
        desired_state(cfg),
        GalleryState({}),
        Catalog(frozenset(), frozenset(), {}),
        gallery="g",
        account="acme",
    )
    assert plan.diagnostics == ()


def test_diff_when_every_version_number_changes() -> None:
    # deepdiff reports this as one change of the whole versions mapping; we still name each.
    changes = diff_asset(BASE, replace(BASE, versions=(V2,)))
    assert [(c.op, c.field) for c in changes] == [
        (ChangeOp.REMOVE, "versions[1.0.0]"),
        (ChangeOp.ADD, "versions[1.1.0]"),
    ]


def test_same_state_is_canonical_equality_without_building_it() -> None:
    """same_state is plan's fast path: it must agree with comparing the canonical forms."""
    rich = replace(BASE, versions=(V1, V2), categories=("ocr", "speech"), revision=4)
    cases = [
        (replace(rich, revision=9), True),  # the gallery's revision is not state
        (replace(rich, categories=("speech", "ocr")), True),  # categories are a set
        (replace(rich, versions=(V2, V1)), True),  # versions are keyed by number
        (
            replace(rich, visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset("ab"))),
            False,
        ),
        (replace(rich, versions=(V1, V2._replace(description="x"))), False),
        (replace(rich, duration_limit=DurationLimit(30)), False),
        (replace(rich, status=Status.DISCONTINUED), False),
        (replace(rich, cover="0" * 64), False),
    ]
    for other, expected in cases:
        assert rich.same_state(other) is expected
        assert (rich.to_json() == other.to_json()) is expected


def test_version_changes_and_additions_come_from_the_version_diff() -> None:
    after = replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2))
    assert [(c.op, c.field) for c in diff_asset(BASE, after)] == [
        (ChangeOp.CHANGE, "versions[1.0.0].status"),
        (ChangeOp.ADD, "versions[1.1.0]"),
    ]


def test_versions_added_removed_and_changed_together() -> None:
    v3 = Version("1.2.0", "cn-north-4", "app3")
    before = replace(BASE, versions=(V1, V2))
    after = replace(BASE, versions=(V1._replace(description="new", status=Status.DISCONTINUED), v3))
    assert [(c.op, c.field) for c in diff_asset(before, after)] == [
        (ChangeOp.CHANGE, "versions[1.0.0].description"),
        (ChangeOp.CHANGE, "versions[1.0.0].status"),
        (ChangeOp.REMOVE, "versions[1.1.0]"),
        (ChangeOp.ADD, "versions[1.2.0]"),
    ]
