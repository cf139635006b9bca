"""The reconcile loop's pure parts: backoff with full jitter, redaction, drift per field."""

from __future__ import annotations

import random

import pytest

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.diff import Change, ChangeOp
from gallery_sync.plan import Action, AssetPlan, Plan, PlannedChange
from gallery_sync.reconcile import Redactor, backoff, find_drift


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(1)
    for failures, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 30.0), (200, 30.0)]:
        delays = [backoff(failures, 1.0, 30.0, rng) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9  # jitter spreads over the whole range
        assert min(delays) < ceiling * 0.1


def test_redactor_removes_url_passwords_and_the_token() -> None:
    redact = Redactor(
        "https://bot:s3cret@git.example.com/ml.git",
        "postgresql://gs:pw1234@db/gallery",
        secrets=("tok_abcdef",),
    )
    text = "fetch https://bot:s3cret@git.example.com/ml.git as tok_abcdef on pw1234"
    assert redact(text) == "fetch https://bot:***@git.example.com/ml.git as *** on ***"
    assert Redactor("sqlite:///x.db", None)("nothing secret") == "nothing secret"


def test_drift_is_per_asset_and_field_and_refused_assets_say_why() -> None:
    title = PlannedChange(Change(ChangeOp.CHANGE, ("title",), "By hand", "Flowers"))
    version = PlannedChange(Change(ChangeOp.REMOVE, ("versions", "1.1.0"), {"v": 1}, None))
    plan = Plan(
        publisher="acme-ml",
        gallery="sqlite:///g.db",
        assets=(
            AssetPlan("flowers", Action.UPDATE, 3, (title,), ()),
            AssetPlan("roses", Action.UPDATE, 2, (version,), (), refused=True),
            AssetPlan("tulips", Action.UNMANAGED, 1),
            AssetPlan("lilies", Action.NOOP, 1),
        ),
        diagnostics=(Diagnostic.of("version-removed", "version 1.1.0 is gone", asset="roses"),),
    )
    drift, unmanaged = find_drift(plan)
    assert [d.to_json() for d in drift] == [
        {
            "asset": "flowers",
            "field": "title",
            "gallery": "By hand",
            "git": "Flowers",
            "revertable": True,
        },
        {
            "asset": "roses",
            "field": "versions[1.1.0]",
            "gallery": {"v": 1},
            "git": None,
            "revertable": False,
            "why": "version-removed: version 1.1.0 is gone",
        },
    ]
    assert unmanaged == ["tulips"]


@pytest.mark.parametrize("addr", ["9469", "host:", "host:99999", ":x"])
def test_a_bad_status_address_is_a_usage_error(addr: str) -> None:
    from gallery_sync.errors import UsageError
    from gallery_sync.reconcile_http import parse_addr

    with pytest.raises(UsageError, match="expected HOST:PORT"):
        parse_addr(addr)
