"""Markdown output: a pull-request comment that stays under GitHub's comment size limit.

Every value from a config or a gallery is escaped (`escape.markdown_*`): a title cannot close
our `<details>`, break a table, open a link or carry a control character. A big plan keeps,
in this order, the summary and plan hash, the errors, the irreversible changes (per asset, or
counted by kind when even that is too long), then as many asset sections as fit; the note at
the end says exactly what was left out. A line is never cut.
"""

from __future__ import annotations

from collections.abc import Iterable

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.diff import ChangeOp
from gallery_sync.plan import Action, AssetPlan, Plan, Risk
from gallery_sync.render.escape import markdown_code, markdown_fenced, markdown_text
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
)

MAX_CHARS = 60_000  # a PR comment holds 65,536; leave room for a bot's own header
DIAGNOSTICS_CHARS = 30_000  # the errors never crowd out the irreversible changes
DIFF_LINES = 200  # of one changed text
ICON = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.DISCONTINUE: "⛔",
    Action.RELEASE: "🔁",
}
IRREVERSIBLE_TITLE = "#### ⚠️ Irreversible changes — merging makes these permanent"

Grouped = IrreversibleByAsset


def render_plan(plan: Plan) -> str:
    irreversible = irreversible_by_asset(plan)
    total = irreversible.total
    out = [f"### gallery-sync plan: {summary(plan, irreversible=total)}", ""]
    if plan.has_changes and not plan.has_errors:
        digest = plan.digest()
        out += [
            f"Plan hash: `{digest}` — to apply exactly this plan once it is saved with "
            f"`plan --out PLANFILE`: `gallery-sync apply PLANFILE --plan-hash {digest}`",
            "",
        ]
    problems, problems_complete = _fitting(_diagnostics(plan), DIAGNOSTICS_CHARS)
    out += problems
    size = _size(out)
    # The note's longest form is < 600 characters; the by-kind list is bounded (LIST_LIMIT ids
    # per kind, four kinds), so the irreversible changes always fit in some form.
    by_asset = _irreversible_by_asset(irreversible, MAX_CHARS - size - 600)
    if by_asset is not None:
        out += by_asset
        irreversible_shown = "every irreversible change"
    else:
        out += _irreversible_by_kind(irreversible, total)
        irreversible_shown = "the irreversible changes counted by kind"
    changed = plan.changed
    body = "\n".join(out) + "\n"
    if not changed and not plan.has_errors:
        return body + "No changes. The gallery matches the configuration.\n"
    kept = 0
    for asset in changed:  # built one by one: a 10,000-asset plan shows a few dozen
        section = _asset_section(asset)
        if len(body) + len(section) + 600 > MAX_CHARS:
            break
        body += section
        kept += 1
    if problems_complete and by_asset is not None and kept == len(changed):
        return body
    return body + _note(problems_complete, irreversible_shown, kept, len(changed))


def _note(problems_complete: bool, irreversible: str, kept: int, sections: int) -> str:
    problems = "every error and warning" if problems_complete else "the first errors and warnings"
    return (
        f"\n> **The plan is too long for one comment.** Shown above: the summary, {problems}, "
        f"{irreversible}, and the details of {'the first ' if kept else ''}{kept:,} of "
        f"{count(sections, 'changed asset')}. "
        "Run `gallery-sync plan --format json` for the full plan.\n"
    )


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fitting(lines: list[str], budget: int) -> tuple[list[str], bool]:
    """The lines that fit in `budget` characters, whole, and whether all of them did."""
    if _size(lines) <= budget:
        return lines, True
    kept, size = [], 0
    for line in lines:
        if size + len(line) + 1 > budget - 200:
            break
        kept.append(line)
        size += len(line) + 1
    left = sum(line.startswith("- ") for line in lines[len(kept) :])
    rest = f"- … {more(left, 'problems')}: `gallery-sync plan --format json` lists them all"
    return [*kept, rest, ""], False


def _diagnostics(plan: Plan) -> list[str]:
    errors = [d for d in plan.diagnostics if d.is_error]
    warnings = [d for d in plan.diagnostics if not d.is_error]
    refused = [a for a in plan.assets if a.refused]
    out = []
    if errors:
        out += ["#### ❌ Errors", "", *[_item(d) for d in errors], ""]
    if refused:
        out += ["#### ⛔ Refused — these assets break a rule: nothing of them is written", ""]
        out += [f"- {markdown_code(a.id)}: refused (see the errors above)" for a in refused]
        out.append("")
    if warnings:
        out += ["#### ⚠️ Warnings", "", *[_item(d) for d in warnings], ""]
    return out


def _item(d: Diagnostic) -> str:
    if d.place:
        where = markdown_code(f"{d.place.file}:{d.place.line}")
    else:
        version = f" version {markdown_code(d.version)}" if d.version else ""
        where = f"asset {markdown_code(d.asset)}{version}" if d.asset else ""
    return " ".join(
        part
        for part in ("-", where, f"**{markdown_text(d.code)}**:", markdown_text(d.message))
        if part
    )


def _irreversible_by_asset(grouped: Grouped, budget: int) -> list[str] | None:
    """A line per asset with irreversible changes; None if they need more than `budget`."""
    if not len(grouped):
        return []
    lines = [IRREVERSIBLE_TITLE, ""]
    size = len(IRREVERSIBLE_TITLE) + 3
    for asset, changes in grouped:
        phrases = "; ".join(irreversible_phrases(asset, changes, arrow="→"))
        lines.append(f"- {markdown_code(asset.id)}: {markdown_text(phrases)}")
        size += len(lines[-1]) + 1
        if size > budget:
            return None
    return [*lines, ""]


def _irreversible_by_kind(grouped: Grouped, total: int) -> list[str]:
    """The irreversible changes counted by kind, with the first LIST_LIMIT ids of each."""
    created, widened, published, discontinued = [], [], [], []
    public = specific = new_versions = ended_versions = 0
    for asset, changes in grouped:
        visibility = [c.change.after for c in changes if c.change.path == ("visibility",)]
        versions = [c for c in changes if c.change.version is not None]
        added = sum(c.change.op is ChangeOp.ADD for c in versions)
        public += "public" in visibility
        specific += any(isinstance(v, dict) for v in visibility)
        if asset.action is Action.CREATE:
            created.append(asset.id)
            continue
        if visibility:
            widened.append(asset.id)
        if added:
            published.append(asset.id)
            new_versions += added
        if len(versions) > added:
            discontinued.append(asset.id)
            ended_versions += len(versions) - added
    lines = [
        IRREVERSIBLE_TITLE,
        "",
        f"{count(total, 'irreversible change')} in {count(len(grouped), 'asset')}, by kind:",
        "",
    ]
    kinds = [
        (created, f"{count(len(created), 'asset')} to create (published, never deleted)"),
        (widened, f"{count(len(widened), 'asset')} to widen the visibility of"),
        (published, f"{count(new_versions, 'new version')} in {count(len(published), 'asset')}"),
        (
            discontinued,
            f"{count(ended_versions, 'version')} to discontinue in "
            f"{count(len(discontinued), 'asset')}",
        ),
    ]
    for ids, what in kinds:
        if ids:
            lines.append(f"- **{what}**: {_ids(ids)}")
    lines.append(
        f"- of all these assets, {count(public, 'becomes', 'become')} public and "
        f"{specific:,} visible to specific users"
    )
    return [*lines, ""]


def _ids(ids: list[str]) -> str:
    shown_ids = ", ".join(markdown_code(i) for i in ids[:LIST_LIMIT])
    return shown_ids + (f", and {len(ids) - LIST_LIMIT:,} more" if len(ids) > LIST_LIMIT else "")


def _asset_section(asset: AssetPlan) -> str:
    risk = " ⚠️ irreversible" if asset.risk is Risk.IRREVERSIBLE else ""
    lines = [
        "<details>",
        f"<summary>{ICON.get(asset.action, '')} <code>{markdown_text(asset.id)}</code>: "
        f"{asset.action.value}{risk}</summary>",
        "",
        *(
            [f"👥 {markdown_text(subscriber_effect(asset.subscribers))}", ""]
            if asset.subscribers is not None
            else []
        ),
        "| field | before | after |",
        "| --- | --- | --- |",
    ]
    diffs: list[str] = []
    for c in asset.changes:
        ch = c.change
        mark = " ⚠️" if c.risk is Risk.IRREVERSIBLE else ""
        before = "" if ch.before is None else markdown_text(shown(ch, ch.before))
        after = "" if ch.after is None else markdown_text(shown(ch, ch.after))
        if ch.path == ("cover",):
            before = markdown_code(ch.before) if ch.before else ""
            after = markdown_code(ch.after) if ch.after else ""
        if is_multiline_text(ch):  # shown whole as the diff below, as the text plan does
            before, after = f"{len(ch.before):,} chars", f"{len(ch.after):,} chars (diff below)"
        lines.append(f"| {markdown_text(ch.field)}{mark} | {before} | {after} |")
        if is_multiline_text(ch) or (ch.path == ("description",) and ch.before is not None):
            diffs += ["", *_diff(ch.before or "", ch.after or "")]
    return "\n".join([*lines, *diffs, "", "</details>", ""]) + "\n"


def _diff(before: str, after: str) -> Iterable[str]:
    lines = text_diff(before, after)
    block = markdown_fenced("\n".join(lines[:DIFF_LINES]), "diff")
    if len(lines) > DIFF_LINES:
        block.append(f"… {more(len(lines) - DIFF_LINES, 'lines of the diff')}")
    return block
