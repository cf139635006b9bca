"""Text output: a Terraform-like plan and yamllint-like diagnostic lines, coloured on a TTY."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping

import click

from gallery_sync.apply import ApplyReport, Outcome
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.diff import ChangeOp
from gallery_sync.gallery import AuditEntry
from gallery_sync.model import Asset, Version, Visibility
from gallery_sync.plan import Action, AssetPlan, Plan, PlannedChange, Risk
from gallery_sync.render.escape import terminal_line
from gallery_sync.render.values import (
    LIST_LIMIT,
    count,
    irreversible_by_asset,
    irreversible_phrases,
    is_multiline_text,
    more,
    shown,
    summary,
    text_diff,
    versions_phrase,
)

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
    """`file:line:col: [level] message (code)`, as yamllint writes it; a problem with no place
    in a file says what it is about instead: `asset flowers version 1.0.0: [error] ...`."""
    if d.place is not None:
        where = f"{terminal_line(d.place.file)}:{d.place.line}:{d.place.column}: "
    elif d.asset:
        version = f" version {terminal_line(d.version)}" if d.version else ""
        where = f"asset {terminal_line(d.asset)}{version}: "
    else:
        where = ""
    colour = "red" if d.severity is Severity.ERROR else "yellow"
    level = click.style(d.severity.value, fg=colour, bold=True)
    return f"{where}[{level}] {terminal_line(d.message)} ({terminal_line(d.code)})"


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    lines = [diagnostic_line(d) for d in diagnostics]
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        lines.append(f"{count(errors, 'error')}, {count(warnings, 'warning')}: invalid.")
    else:
        lines.append(f"valid ({count(warnings, 'warning')}).")
    return "\n".join(lines) + "\n"


def _plan_diagnostic_lines(diagnostics: tuple[Diagnostic, ...]) -> list[str]:
    """Every problem at a place in a file (each is one to fix); of those without a place,
    which grow with the gallery (unmanaged assets), LIST_LIMIT per code and a count."""
    lines, unplaced = [], Counter[tuple[str, Severity]]()
    for d in diagnostics:
        if d.place is None:
            unplaced[d.code, d.severity] += 1
            if unplaced[d.code, d.severity] > LIST_LIMIT:
                continue
        lines.append(diagnostic_line(d))
    for (code, severity), n in unplaced.items():
        if n > LIST_LIMIT:
            what = f"{terminal_line(code)} {severity.value}s (--format json lists them all)"
            lines.append(f"... {more(n - LIST_LIMIT, what)}")
    return lines


def render_plan(plan: Plan) -> str:
    out = [
        f"Gallery {terminal_line(plan.gallery)}, publisher {terminal_line(plan.publisher)}",
        "",
    ]
    if plan.diagnostics:
        out += [*_plan_diagnostic_lines(plan.diagnostics), ""]
    if plan.has_errors:
        refused = [a for a in plan.assets if a.refused]
        for asset in refused[:LIST_LIMIT]:
            head = click.style(f"x asset {terminal_line(asset.id)}", fg="red", bold=True)
            out.append(f"{head}: refused (see the errors above)")
        if len(refused) > LIST_LIMIT:
            out.append(f"... {more(len(refused) - LIST_LIMIT, 'assets refused')}")
        if refused:
            out.append("")
        out.append(click.style("The plan has errors: nothing can be applied.", fg="red", bold=True))
        out.append(summary_line(plan))
        return "\n".join(out) + "\n"
    irreversible = irreversible_by_asset(plan)
    out += _irreversible_lines(irreversible)
    created = sum(a.action is Action.CREATE for a in plan.changed)
    compact = created > LIST_LIMIT
    for asset in plan.changed:
        if compact and asset.action is Action.CREATE:
            out.append(_created_line(asset))
        else:
            out += [*_asset_block(asset), ""]
    if compact:
        out += [
            "",
            f"({count(created, 'new asset')} shown one line each; "
            "`plan --format json` has every field.)",
        ]
    if not plan.has_changes:
        out.append("No changes. The gallery matches the configuration.")
    out.append(summary_line(plan, irreversible=sum(len(found) for _, found in irreversible)))
    if plan.has_changes:
        out.append(f"Plan hash: {plan.digest()}")
    return "\n".join(out) + "\n"


def _irreversible_lines(grouped: list[tuple[AssetPlan, list[PlannedChange]]]) -> list[str]:
    """One line per asset with irreversible changes, the first LIST_LIMIT of them."""
    if not grouped:
        return []
    title = "! Irreversible — once applied, these cannot be undone:"
    out = [click.style(title, fg="red", bold=True)]
    for asset, changes in grouped[:LIST_LIMIT]:
        phrases = "; ".join(irreversible_phrases(asset, changes, arrow="->"))
        out.append(f"  ! {terminal_line(asset.id)}: {terminal_line(phrases)}")
    if len(grouped) > LIST_LIMIT:
        rest = more(len(grouped) - LIST_LIMIT, "assets with irreversible changes, each marked !")
        out.append(f"  ... {rest} below")
    return [*out, ""]


def _created_line(asset: AssetPlan) -> str:
    """A new asset on one line: its title, versions and visibility (big plans)."""
    value = asset.operations[0].value if asset.operations else {}
    head = click.style(f"+ asset {terminal_line(asset.id)}", fg="green", bold=True)
    what = [
        json.dumps(value.get("title", ""), ensure_ascii=False),
        versions_phrase(list(value.get("versions", {})) or ["?"]),
        f"visibility {Visibility.from_json(value.get('visibility', 'only_me'))}",
    ]
    return f"{head} will be created: {terminal_line(', '.join(what))}{_IRREVERSIBLE_MARK}"


_IRREVERSIBLE_MARK = click.style("  ! irreversible", fg="red")


def _asset_block(asset: AssetPlan) -> list[str]:
    symbol, colour = SYMBOL[asset.action]
    revision = f" (revision {asset.revision})" if asset.revision is not None else ""
    head = click.style(f"{symbol} asset {terminal_line(asset.id)}", fg=colour, bold=True)
    lines = [f"{head} {VERB.get(asset.action, '')}{revision}"]
    for change in sorted(asset.changes, key=lambda c: c.risk is not Risk.IRREVERSIBLE):
        mark = _IRREVERSIBLE_MARK if change.risk is Risk.IRREVERSIBLE else ""
        sym = CHANGE_SYMBOL[change.change.op]
        lines.append(f"    {sym} {_change_text(change)}{mark}")
        if is_multiline_text(change.change):
            lines += _diff_lines(change.change.before, change.change.after)
    return lines


def _change_text(change: PlannedChange) -> str:
    c = change.change
    field = terminal_line(c.field)
    if c.op is ChangeOp.ADD and c.before is None:
        return f"{field}: {terminal_line(shown(c, c.after))}"
    if c.op is ChangeOp.REMOVE:
        return f"{field}: {terminal_line(shown(c, c.before))} (removed)"
    if is_multiline_text(c):
        return f"{field}: {len(c.before):,} chars -> {len(c.after):,} chars"
    return f"{field}: {terminal_line(shown(c, c.before))} -> {terminal_line(shown(c, c.after))}"


DIFF_LINES = 40  # of a changed text in the terminal; the json plan has both texts whole
_DIFF_COLOUR = {"-": "red", "+": "green", "@": "cyan"}


def _diff_lines(before: str, after: str) -> list[str]:
    """A changed text as a unified diff, indented under its field, as Terraform shows it."""
    lines = text_diff(before, after)[2:]  # no ---/+++ header: the field line names both
    shown_lines = [
        "        " + click.style(terminal_line(line), fg=_DIFF_COLOUR.get(line[:1]))
        for line in lines[:DIFF_LINES]
    ]
    if len(lines) > DIFF_LINES:
        rest = more(len(lines) - DIFF_LINES, "lines of the diff (--format json has both texts)")
        shown_lines.append(f"        ... {rest}")
    return shown_lines


def summary_line(plan: Plan, *, irreversible: int | None = None) -> str:
    return f"Plan: {summary(plan, irreversible=irreversible)}."


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_apply_report(report: ApplyReport) -> str:
    applied = report.of(Outcome.APPLIED)
    failed = report.of(Outcome.FAILED)
    not_tried = report.of(Outcome.NOT_TRIED)
    lines = []
    for result in failed:
        for d in result.diagnostics:
            lines.append(
                click.style(f"failed: {result.id}: ", fg="red") + f"{d.message} ({d.code})"
            )
    if not_tried:
        lines.append("not tried: " + ", ".join(r.id for r in not_tried))
    verdict = "Apply complete" if report.ok else "Apply incomplete"
    if report.interrupted:
        verdict = "Apply interrupted"
    lines.append(
        f"{verdict}: {len(applied)} applied, {len(failed)} failed, {len(not_tried)} not tried; "
        f"writes took {report.seconds:.2f} s."
    )
    if not report.ok:
        lines.append("Run `gallery-sync plan` to see what remains; `apply` again converges.")
    return "\n".join(lines) + "\n"


def render_state(assets: Mapping[str, Asset]) -> str:
    if not assets:
        return "The gallery holds no assets.\n"
    out = []
    for asset_id, a in sorted(assets.items()):
        out.append(
            click.style(asset_id, bold=True)
            + f"  (publisher {a.publisher}, revision {a.revision}, {a.status.value})"
        )
        out.append(f"  title:          {a.title}")
        out.append(f"  visibility:     {a.visibility}")
        out.append(f"  duration_limit: {a.duration_limit}")
        out.append(f"  categories:     {', '.join(a.categories) or '(none)'}")
        if a.cover:
            out.append(f"  cover:          sha256:{a.cover}")
        if a.description:
            first = a.description.strip().splitlines()[0] if a.description.strip() else ""
            out.append(f"  description:    {first[:70]} ({len(a.description):,} chars)")
        for v in sorted(a.versions, key=Version.order):
            out.append(f"  version {v.version}: {v.source} [{v.status.value}] {v.description}")
        out.append("")
    return "\n".join(out)


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
            detail += " " + json.dumps(change.pop("value"), ensure_ascii=False)[:80]
        if kind == "refused":
            detail += f" {change.get('code')}: {change.get('message')}"
        plan = f" plan {e.plan_hash[:12]}" if e.plan_hash else ""
        message = f" — {e.message}" if e.message else ""
        out.append(f"#{e.id} {e.time} {e.account} {e.asset}: {kind}{detail}{plan}{message}")
    return "\n".join(out) + "\n"
