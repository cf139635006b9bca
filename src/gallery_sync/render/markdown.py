"""Markdown output: a pull-request comment that stays under GitHub's comment size limit."""

from __future__ import annotations

import difflib

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.plan import Action, AssetPlan, Plan, PlannedChange, Risk
from gallery_sync.render.values import shown

MAX_CHARS = 60_000  # a PR comment holds 65,536; leave room for a bot's own header
ICON = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.DISCONTINUE: "⛔",
    Action.RELEASE: "🔁",
}


def summary(plan: Plan) -> str:
    s = plan.summary()
    text = f"{s['create']} to create, {s['update']} to update, {s['discontinue']} to discontinue"
    if s["release"]:
        text += f", {s['release']} to release"
    irreversible = len(plan.irreversible())
    text += f" — {irreversible} irreversible"
    if s["errors"] or s["warnings"]:
        text += f" · {s['errors']} errors, {s['warnings']} warnings"
    return text


def render_plan(plan: Plan) -> str:
    head = [f"### gallery-sync plan: {summary(plan)}", ""]
    head += _diagnostics(plan)
    head += _irreversible(plan)
    sections = [_asset_section(a) for a in plan.changed]
    if not plan.has_changes and not plan.has_errors:
        sections = ["No changes. The gallery matches the configuration.\n"]
    body = "\n".join(head) + "\n" + "".join(sections)
    if len(body) <= MAX_CHARS:
        return body
    note = (
        "\n> **The plan is too long for one comment.** Shown above: the summary, every error and "
        "every irreversible change. Run `gallery-sync plan --format json` for the full plan.\n"
    )
    kept = "\n".join(head) + "\n"
    for section in sections:
        if len(kept) + len(section) + len(note) > MAX_CHARS:
            break
        kept += section
    if len(kept) + len(note) > MAX_CHARS:
        kept = kept[: MAX_CHARS - len(note) - 20] + "\n…\n"
    return kept + note


def _diagnostics(plan: Plan) -> list[str]:
    errors = [d for d in plan.diagnostics if d.is_error]
    warnings = [d for d in plan.diagnostics if not d.is_error]
    out = []
    if errors:
        out += ["#### ❌ Errors", ""] + [_item(d) for d in errors] + [""]
    if warnings:
        out += ["#### ⚠️ Warnings", ""] + [_item(d) for d in warnings] + [""]
    return out


def _item(d: Diagnostic) -> str:
    where = f"`{d.place.file}:{d.place.line}`" if d.place else f"asset `{d.asset}`"
    return f"- {where} **{d.code}**: {_escape(d.message)}"


def _irreversible(plan: Plan) -> list[str]:
    items = plan.irreversible()
    if not items:
        return []
    out = ["#### ⚠️ Irreversible changes — merging makes these permanent", ""]
    out += [f"- `{a.id}` {c.change.field}: {_escape(_after(c))} — {c.why}" for a, c in items]
    return [*out, ""]


def _after(c: PlannedChange) -> str:
    if c.change.before is None:
        return shown(c.change, c.change.after)
    return f"{shown(c.change, c.change.before)} → {shown(c.change, c.change.after)}"


def _asset_section(asset: AssetPlan) -> str:
    risk = " ⚠️ irreversible" if asset.risk is Risk.IRREVERSIBLE else ""
    lines = [
        "<details>",
        f"<summary>{ICON.get(asset.action, '')} <code>{asset.id}</code>: {asset.action.value}"
        f"{risk}</summary>",
        "",
        "| field | before | after |",
        "| --- | --- | --- |",
    ]
    diffs = []
    for c in asset.changes:
        ch = c.change
        mark = " ⚠️" if c.risk is Risk.IRREVERSIBLE else ""
        before = "" if ch.before is None else _cell(shown(ch, ch.before))
        after = "" if ch.after is None else _cell(shown(ch, ch.after))
        if ch.path == ("cover",):
            before = f"`{ch.before}`" if ch.before else ""
            after = f"`{ch.after}`" if ch.after else ""
        lines.append(f"| {ch.field}{mark} | {before} | {after} |")
        if ch.path == ("description",) and ch.before is not None:
            diffs.append(_text_diff(ch.before or "", ch.after or ""))
    for diff in diffs:
        lines += ["", "```diff", diff, "```"]
    return "\n".join([*lines, "", "</details>", ""]) + "\n"


def _text_diff(before: str, after: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=2
        )
    ).replace("```", "` ` `")


def _cell(text: str) -> str:
    return _escape(text).replace("|", "\\|").replace("\n", " ")


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")
