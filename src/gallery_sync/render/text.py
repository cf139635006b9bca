"""Text output: a Terraform-like plan and yamllint-like diagnostic lines, coloured on a TTY."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping

import click

from gallery_sync.apply import ApplyReport, Outcome
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.diff import ChangeOp
from gallery_sync.gallery import AuditEntry
from gallery_sync.model import Asset, Version, Visibility
from gallery_sync.plan import Action, AssetPlan, NewOperations, Plan, PlannedChange, Risk
from gallery_sync.render.escape import terminal_line
from gallery_sync.render.values import (
    LIST_LIMIT,
    IrreversibleByAsset,
    count,
    irreversible_by_asset,
    irreversible_phrases,
    is_multiline_text,
    more,
    shown,
    subscriber_effect,
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
    return "\n".join(plan_lines(plan)) + "\n"


def plan_lines(plan: Plan) -> Iterator[str]:
    """The text plan line by line (no newlines): the CLI writes them as they come, never the
    whole text of a plan of 30,000 new assets (3 MB, a copy per step on its way out)."""
    yield (
        f"Gallery {terminal_line(shown_gallery(plan.gallery))}, "
        f"publisher {terminal_line(plan.publisher)}"
    )
    yield ""
    if plan.diagnostics:
        yield from _plan_diagnostic_lines(plan.diagnostics)
        yield ""
    if plan.has_errors:
        refused = [a for a in plan.assets if a.refused]
        for asset in refused[:LIST_LIMIT]:
            head = click.style(f"x asset {terminal_line(asset.id)}", fg="red", bold=True)
            yield f"{head}: refused (see the errors above)"
        if len(refused) > LIST_LIMIT:
            yield f"... {more(len(refused) - LIST_LIMIT, 'assets refused')}"
        if refused:
            yield ""
        verdict = click.style("The plan has errors: nothing can be applied.", fg="red", bold=True)
        if not plan.changed:
            yield from (verdict, summary_line(plan))
            return
        # What the valid rest would do, as the markdown comment shows it: counted, so listed.
        yield from ("Once the errors are fixed, apply would:", "")
    irreversible = irreversible_by_asset(plan)
    yield from _irreversible_lines(irreversible)
    created = sum(a.action is Action.CREATE for a in plan.changed)
    compact = created > LIST_LIMIT
    for asset in plan.changed:
        if compact and asset.action is Action.CREATE:
            yield _created_line(asset)
        else:
            yield from _asset_block(asset)
            yield ""
    if compact:
        yield ""
        yield (
            f"({count(created, 'new asset')} shown one line each; "
            "`plan --format json` has every field.)"
        )
    if plan.has_errors:
        yield from (verdict, summary_line(plan))
        return
    if not plan.has_changes:
        yield "No changes. The gallery matches the configuration."
    yield summary_line(plan, irreversible=irreversible.total)
    if plan.has_changes:
        yield f"Plan hash: {plan.digest()}"


def _irreversible_lines(grouped: IrreversibleByAsset) -> list[str]:
    """One line per asset with irreversible changes, the first LIST_LIMIT of them."""
    if not len(grouped):
        return []
    title = "! Irreversible — once applied, these cannot be undone:"
    out = [click.style(title, fg="red", bold=True)]
    for asset, changes in grouped.first(LIST_LIMIT):
        phrases = "; ".join(irreversible_phrases(asset, changes, arrow="->"))
        out.append(f"  ! {terminal_line(asset.id)}: {terminal_line(phrases)}")
    if len(grouped) > LIST_LIMIT:
        rest = more(len(grouped) - LIST_LIMIT, "assets with irreversible changes, each marked !")
        out.append(f"  ... {rest} below")
    return [*out, ""]


def _created_line(asset: AssetPlan) -> str:
    """A new asset on one line: its title, versions and visibility (big plans)."""
    operations = asset.operations
    if isinstance(operations, NewOperations):  # from the Asset: its canonical form unbuilt
        new = operations.asset
        title, numbers, visibility = new.title, [v.version for v in new.versions], new.visibility
    else:
        value = operations[0].value if operations else {}
        title, numbers = value.get("title", ""), list(value.get("versions", {}))
        visibility = Visibility.from_json(value.get("visibility", "only_me"))
    what = ", ".join(
        (
            _DUMPS(title),
            versions_phrase(numbers or ["?"]),
            f"visibility {visibility}",
        )
    )
    return (
        f"{_CREATED_HEAD}+ asset {terminal_line(asset.id)}{_CREATED_TAIL} will be created: "
        f"{terminal_line(what)}{_IRREVERSIBLE_MARK}"
    )


# A new asset's line is styled by pieces computed once: a big first plan has 10,000s of them.
_CREATED_HEAD, _CREATED_TAIL = click.style("\0", fg="green", bold=True).split("\0")
_DUMPS = json.JSONEncoder(ensure_ascii=False).encode
_IRREVERSIBLE_MARK = click.style("  ! irreversible", fg="red")


def _asset_block(asset: AssetPlan) -> list[str]:
    symbol, colour = SYMBOL[asset.action]
    revision = f" (revision {asset.revision})" if asset.revision is not None else ""
    head = click.style(f"{symbol} asset {terminal_line(asset.id)}", fg=colour, bold=True)
    lines = [f"{head} {VERB.get(asset.action, '')}{revision}"]
    if asset.subscribers is not None:
        lines.append(
            "    " + click.style(terminal_line(subscriber_effect(asset.subscribers)), fg="red")
        )
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
        if kind in ("drift", "in-step"):  # what a reconciler found (SPEC 9)
            fields = change.get("fields")
            if isinstance(fields, list) and fields:
                detail += " " + ", ".join(str(f) for f in fields)
            if change.get("commit"):
                detail += f" at git {str(change['commit'])[:12]}"
        plan = f" plan {e.plan_hash[:12]}" if e.plan_hash else ""
        message = f" — {e.message}" if e.message else ""
        line = f"#{e.id} {e.time} {e.account} {e.asset}: {kind}{detail}{plan}{message}"
        out.append(terminal_line(line))
    return "\n".join(out) + "\n"


def shown_gallery(url: str) -> str:
    """A gallery's URL as a person reads it: an embedded gallery under the current directory
    relative to it (the plan itself keeps the absolute path that identifies it)."""
    import os

    prefix = "sqlite:///"
    if not url.startswith(prefix + "/"):
        return url
    path = url[len(prefix) :]
    relative = os.path.relpath(path)
    return url if relative.startswith("..") else prefix + relative
