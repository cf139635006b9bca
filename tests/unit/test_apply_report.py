"""The apply report in text (bounded lists, honest advice) and in JSON (everything)."""

from __future__ import annotations

import click

from gallery_sync.apply import ApplyReport, AssetResult, Outcome
from gallery_sync.diagnostics import Diagnostic
from gallery_sync.render.text import render_apply_report


def failed(asset_id: str, code: str) -> AssetResult:
    return AssetResult(asset_id, Outcome.FAILED, (Diagnostic.of(code, f"{code} happened"),))


def test_an_interrupted_big_apply_lists_ten_ids_and_counts_the_rest() -> None:
    ids = [f"asset-{i:05d}" for i in range(10_000)]
    report = ApplyReport(
        [AssetResult(i, Outcome.APPLIED, revision=1) for i in ids[:8_500]]
        + [AssetResult(i, Outcome.NOT_TRIED) for i in ids[8_500:]],
        interrupted=True,
    )
    lines = render_apply_report(report).splitlines()
    assert lines == [
        "not tried: " + ", ".join(ids[8_500:8_510]) + ", and 1,490 more (`apply --format json` "
        "lists all)",
        "Apply interrupted: 8500 applied, 0 failed, 1500 not tried; writes took 0.00 s.",
        "Run `gallery-sync plan` to see what remains; `apply` again converges.",
    ]
    assert max(map(len, lines)) < 250
    body = report.to_json()
    assert body["summary"] == {"applied": 8_500, "failed": 0, "not tried": 1_500}
    assert [r["id"] for r in body["results"] if r["outcome"] == "not tried"] == ids[8_500:]


def test_failures_are_listed_ten_at_most() -> None:
    report = ApplyReport([failed(f"a{i:02d}", "conflict") for i in range(15)])
    lines = click.unstyle(render_apply_report(report)).splitlines()
    assert lines[:10] == [f"failed: a{i:02d}: conflict happened (conflict)" for i in range(10)]
    assert lines[10] == "and 5 more failed (`apply --format json` lists all)"
    assert lines[-1] == "Run `gallery-sync plan` to see what remains; `apply` again converges."


def test_a_failure_that_will_recur_is_never_promised_to_converge() -> None:
    report = ApplyReport([failed("a", "gallery-error"), failed("b", "image-policy")])
    text = render_apply_report(report)
    assert "converges" not in text
    assert text.splitlines()[-1] == (
        "The image-policy failures will recur until their cause is fixed: do what each message "
        "above says, then run `gallery-sync plan` and apply again."
    )


def test_a_complete_apply_gives_no_advice() -> None:
    report = ApplyReport([AssetResult("a", Outcome.APPLIED, revision=2)])
    assert render_apply_report(report) == (
        "Apply complete: 1 applied, 0 failed, 0 not tried; writes took 0.00 s.\n"
    )
