"""Text output: a Terraform-like plan and yamllint-like diagnostic lines, coloured on a TTY."""

from __future__ import annotations

import json
from collections.abc import Mapping

import click

from gallery_sync.apply import ApplyReport, Outcome
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.diff import ChangeOp
from gallery_sync.gallery import AuditEntry
from gallery_sync.model import Asset, Version
from gallery_sync.plan import Action, AssetPlan, Plan, PlannedChange, Risk
from gallery_sync.render.escape import terminal_line
from gallery_sync.render.values import shown

SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DISCONTINUE: ("-", "red"),
    Action.RELEASE: ("^", "cyan"),
    Action.UNMANAGED: ("?", "magenta"),
    Action.NOOP: (" ", None),
}
VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated",
    Action.DISCONTINUE: "will be discontinued",
    Action.RELEASE: "will be released again",
}
CHANGE_SYMBOL = {ChangeOp.ADD: "+", ChangeOp.CHANGE: "~", ChangeOp.REMOVE: "-"}


def diagnostic_line(d: Diagnostic) -> str:
    """`file:line:col: [level] message (code)`, as yamllint writes it."""
    where = f"{d.place.file}:{d.place.line}:{d.place.column}" if d.place else "gallery"
    about = ""
    if d.place is None and d.asset:
        about = f" asset {d.asset}" + (f" version {d.version}" if d.version else "") + ":"
    colour = "red" if d.severity is Severity.ERROR else "yellow"
    level = click.style(d.severity.value, fg=colour, bold=True)
    return f"{where}:{about} [{level}] {d.message} ({d.code})"


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    lines = [diagnostic_line(d) for d in diagnostics]
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        lines.append(f"{_count(errors, 'error')}, {_count(warnings, 'warning')}: invalid.")
    else:
        lines.append(f"valid ({_count(warnings, 'warning')}).")
    return "\n".join(lines) + "\n"


def render_plan(plan: Plan) -> str:
    out = [f"Gallery {plan.gallery}, publisher {plan.publisher}", ""]
    if plan.diagnostics:
        out += [diagnostic_line(d) for d in plan.diagnostics] + [""]
    if plan.has_errors:
        out.append(click.style("The plan has errors: nothing can be applied.", fg="red", bold=True))
        out.append(summary_line(plan))
        return "\n".join(out) + "\n"
    irreversible = plan.irreversible()
    if irreversible:
        out.append(
            click.style(
                "! Irreversible — once applied, these cannot be undone:", fg="red", bold=True
            )
        )
        for asset, change in irreversible:
            out.append(f"  ! {asset.id}: {_change_text(change)} — {change.why}")
        out.append("")
    for asset in plan.assets:
        if asset.operations:
            out += [*_asset_block(asset), ""]
    if not plan.has_changes:
        out.append("No changes. The gallery matches the configuration.")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"


def _asset_block(asset: AssetPlan) -> list[str]:
    symbol, colour = SYMBOL[asset.action]
    revision = f" (revision {asset.revision})" if asset.revision is not None else ""
    head = click.style(f"{symbol} asset {asset.id}", fg=colour, bold=True)
    lines = [f"{head} {VERB.get(asset.action, '')}{revision}"]
    for change in sorted(asset.changes, key=lambda c: c.risk is not Risk.IRREVERSIBLE):
        mark = click.style("  ! irreversible", fg="red") if change.risk is Risk.IRREVERSIBLE else ""
        sym = CHANGE_SYMBOL[change.change.op]
        lines.append(f"    {sym} {_change_text(change)}{mark}")
    return lines


def _change_text(change: PlannedChange) -> str:
    c = change.change
    if c.op is ChangeOp.ADD and c.before is None:
        return f"{c.field}: {shown(c, c.after)}"
    if c.op is ChangeOp.REMOVE:
        return f"{c.field}: {shown(c, c.before)} (removed)"
    return f"{c.field}: {shown(c, c.before)} -> {shown(c, c.after)}"


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    text = (
        f"Plan: {s['create']} to create, {s['update']} to update, "
        f"{s['discontinue']} to discontinue, {s['release']} to release"
    )
    irreversible = len(plan.irreversible())
    if irreversible:
        text += f" — {irreversible} irreversible"
    extras = []
    if s["unmanaged"]:
        extras.append(f"{s['unmanaged']} unmanaged")
    if s["errors"]:
        extras.append(_count(s["errors"], "error"))
    if s["warnings"]:
        extras.append(_count(s["warnings"], "warning"))
    return text + (f" ({', '.join(extras)})" if extras else "") + "."


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# Failures that a second run may not meet: another writer won a race, the store failed.
TRANSIENT_CODES = frozenset({"conflict", "gallery-error"})
REPORT_SHOWN = 10  # failed assets and not-tried ids listed in text; `--format json` has all


def render_apply_report(report: ApplyReport) -> str:
    applied = report.of(Outcome.APPLIED)
    failed = report.of(Outcome.FAILED)
    not_tried = report.of(Outcome.NOT_TRIED)
    lines = []
    for result in failed[:REPORT_SHOWN]:
        for d in result.diagnostics:
            lines.append(
                click.style(f"failed: {terminal_line(result.id)}: ", fg="red")
                + f"{terminal_line(d.message)} ({d.code})"
            )
    if len(failed) > REPORT_SHOWN:
        lines.append(
            f"and {len(failed) - REPORT_SHOWN:,} more failed (`apply --format json` lists all)"
        )
    if not_tried:
        ids = ", ".join(terminal_line(r.id) for r in not_tried[:REPORT_SHOWN])
        if len(not_tried) > REPORT_SHOWN:
            ids += f", and {len(not_tried) - REPORT_SHOWN:,} more (`apply --format json` lists all)"
        lines.append(f"not tried: {ids}")
    verdict = "Apply complete" if report.ok else "Apply incomplete"
    if report.interrupted:
        verdict = "Apply interrupted"
    lines.append(
        f"{verdict}: {len(applied)} applied, {len(failed)} failed, {len(not_tried)} not tried; "
        f"writes took {report.seconds:.2f} s."
    )
    lasting = sorted({d.code for r in failed for d in r.diagnostics} - TRANSIENT_CODES)
    if lasting:
        lines.append(
            f"The {', '.join(lasting)} failures will recur until their cause is fixed: do what "
            "each message above says, then run `gallery-sync plan` and apply again."
        )
    elif not report.ok:
        lines.append("Run `gallery-sync plan` to see what remains; `apply` again converges.")
    return "\n".join(lines) + "\n"


def render_state(assets: Mapping[str, Asset]) -> str:
    if not assets:
        return "The gallery holds no assets.\n"
    out = []
    for asset_id, a in sorted(assets.items()):
        out.append(
            click.style(terminal_line(asset_id), bold=True)
            + f"  (publisher {terminal_line(a.publisher)}, revision {a.revision}, "
            f"{a.status.value})"
        )
        out.append(f"  title:          {terminal_line(a.title)}")
        out.append(f"  visibility:     {terminal_line(str(a.visibility))}")
        out.append(f"  duration_limit: {a.duration_limit}")
        categories = ", ".join(a.categories) or "(none)"
        out.append(f"  categories:     {terminal_line(categories)}")
        if a.cover:
            out.append(f"  cover:          sha256:{terminal_line(a.cover)}")
        if a.description:
            first = a.description.strip().splitlines()[0] if a.description.strip() else ""
            shown = terminal_line(cut(first, 70, count=False))
            out.append(f"  description:    {shown} ({len(a.description):,} chars)")
        for v in sorted(a.versions, key=Version.order):
            out.append(
                f"  version {terminal_line(v.version)}: {terminal_line(v.source)} "
                f"[{v.status.value}] {terminal_line(v.description)}"
            )
        out.append("")
    return "\n".join(out)


HISTORY_VALUE_WIDTH = 80  # characters of a change's value shown on its line


def cut(text: str, width: int, *, count: bool = True) -> str:
    """`text`, or its first characters and "…" (and how long it was) when over `width`."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" + (f" ({len(text):,} chars)" if count else "")


def render_history(entries: list[AuditEntry]) -> str:
    if not entries:
        return "The audit log is empty.\n"
    out = []
    for e in entries:
        change = dict(e.change)
        kind = change.pop("kind", "?")
        version = change.pop("version", None)
        detail = f" {version}" if version else ""
        if "value" in change and kind not in ("create",):
            value = json.dumps(change.pop("value"), ensure_ascii=False)
            detail += " " + cut(value, HISTORY_VALUE_WIDTH)
        if kind == "refused":
            detail += f" {change.get('code')}: {change.get('message')}"
        plan = f" plan {e.plan_hash[:12]}" if e.plan_hash else ""
        message = f" — {e.message}" if e.message else ""
        line = f"#{e.id} {e.time} {e.account} {e.asset}: {kind}{detail}{plan}{message}"
        out.append(terminal_line(line))
    return "\n".join(out) + "\n"
