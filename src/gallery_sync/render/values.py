"""How plans read in every human format: field values, the summary line, irreversible changes.

One vocabulary: the text plan, the markdown comment and the github notice say the same thing
in the same words, from the functions here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import Any

from gallery_sync.diff import Change, ChangeOp
from gallery_sync.model import DurationLimit, OpKind, SubscriberSummary, Visibility, version_key
from gallery_sync.plan import (
    Action,
    AssetPlan,
    Plan,
    PlannedChange,
    irreversible_changes,
    irreversible_count,
)

MAX_SHOWN = 60
# The longest list a human format shows of anything that grows with the gallery or the config
# (irreversible changes, gallery-side warnings, ids); the rest is counted ("and 950 more"),
# and `--format json` has the whole.
LIST_LIMIT = 50


def shown(change: Change, value: Any) -> str:
    """One field value as a plan line shows it (not yet escaped for any output)."""
    if value is None:
        return "(none)"
    name = change.path[-1] if change.path[0] != "versions" or len(change.path) > 2 else "version"
    if name == "visibility":
        return str(Visibility.from_json(value))
    if name == "duration_limit":
        return str(DurationLimit.from_json(value))
    if name == "cover":
        return f"sha256:{value[:12]}"
    if name == "categories":
        return "[" + ", ".join(value) + "]"
    if name == "version":
        text = f"{value['region']}/{value['ai_application']}"
        if value.get("status") == "discontinued":
            text += " (discontinued)"
        if value.get("description"):
            text += " " + _string(value["description"])
        return text
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _string(value: str) -> str:
    lines = value.splitlines() or [""]
    first = lines[0]
    if len(lines) == 1 and len(first) <= MAX_SHOWN:
        return json.dumps(first, ensure_ascii=False)
    return (
        json.dumps(first[: MAX_SHOWN - 3] + "...", ensure_ascii=False) + f" ({len(value):,} chars)"
    )


def is_multiline_text(change: Change) -> bool:
    """A changed text a diff shows better than two values: a description, a version note."""
    return (
        change.op is ChangeOp.CHANGE
        and change.path[-1] == "description"
        and isinstance(change.before, str)
        and isinstance(change.after, str)
        and ("\n" in change.before.rstrip("\n") or "\n" in change.after.rstrip("\n"))
    )


def count(n: int, word: str, plural: str = "") -> str:
    """`1 error`, `2 errors`, `2,500 assets`."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def more(n: int, what: str) -> str:
    return f"and {n:,} more {what}"


# Actions always named in the summary, as Terraform always names add, change and destroy.
_NAMED_ACTIONS = (Action.CREATE, Action.UPDATE, Action.DISCONTINUE, Action.RELEASE)


def summary(plan: Plan, *, irreversible: int | None = None) -> str:
    """The plan in one line, the same in every format.

    `1 to create, 1 to update (1 version discontinued), 0 to discontinue, 0 to release
    — 6 irreversible (1 unmanaged, 2 warnings)`: the four actions always, counted in assets
    (an asset the rules refuse in none); an updated asset's new and discontinued versions in
    brackets; then the irreversible changes, unmanaged assets, errors and warnings when any.
    """
    counts = plan.summary()
    versions: dict[Action, tuple[int, int]] = {}
    for asset in plan.assets:
        if asset.refused or asset.action is Action.CREATE:
            continue
        added = sum(op.kind is OpKind.ADD_VERSION for op in asset.operations)
        ended = sum(op.kind is OpKind.DISCONTINUE_VERSION for op in asset.operations)
        if added or ended:
            was = versions.get(asset.action, (0, 0))
            versions[asset.action] = (was[0] + added, was[1] + ended)
    parts = []
    for action in _NAMED_ACTIONS:
        part = f"{counts[action.value]:,} to {action.value}"
        added, ended = versions.get(action, (0, 0))
        detail = [count(added, "new version")] if added else []
        detail += [count(ended, "version") + " discontinued"] if ended else []
        parts.append(part + (f" ({', '.join(detail)})" if detail else ""))
    text = ", ".join(parts)
    if irreversible is None:
        irreversible = sum(irreversible_count(a) for a in plan.assets if not a.refused)
    if irreversible:
        text += f" — {irreversible:,} irreversible"
    extras = []
    if counts["unmanaged"]:
        extras.append(f"{counts['unmanaged']:,} unmanaged")
    if counts["errors"]:
        extras.append(count(counts["errors"], "error"))
    if counts["warnings"]:
        extras.append(count(counts["warnings"], "warning"))
    return text + (f" ({', '.join(extras)})" if extras else "")


def versions_phrase(numbers: list[str]) -> str:
    """`version 1.0.0`, `versions 1.0.0, 1.1.0`, `5 versions 1.0.0–1.4.0`."""
    numbers = sorted(numbers, key=version_key)
    if len(numbers) == 1:
        return f"version {numbers[0]}"
    if len(numbers) <= 3:
        return "versions " + ", ".join(numbers)
    return f"{len(numbers)} versions {numbers[0]}–{numbers[-1]}"


class IrreversibleByAsset:
    """Each asset with irreversible changes (refused assets have none), with those changes:
    counted in one pass that builds none, and built asset by asset as they are walked, then
    let go. Held whole, a plan of 10,000 new assets' were ~11 MiB at the text plan's peak."""

    def __init__(self, plan: Plan) -> None:
        self._counted = [
            (asset, found)
            for asset in plan.assets
            if not asset.refused and (found := irreversible_count(asset))
        ]
        self.total = sum(found for _, found in self._counted)

    def __len__(self) -> int:
        return len(self._counted)

    def __iter__(self) -> Iterator[tuple[AssetPlan, list[PlannedChange]]]:
        return ((asset, irreversible_changes(asset)) for asset, _ in self._counted)

    def first(self, limit: int) -> list[tuple[AssetPlan, list[PlannedChange]]]:
        return [(asset, irreversible_changes(asset)) for asset, _ in self._counted[:limit]]


def irreversible_by_asset(plan: Plan) -> IrreversibleByAsset:
    return IrreversibleByAsset(plan)


def irreversible_phrases(
    asset: AssetPlan, changes: list[PlannedChange], *, arrow: str
) -> list[str]:
    """An asset's irreversible changes in a few words (unescaped):
    `published with 5 versions 1.0.0–1.4.0`, `visibility only_me -> public`."""
    published, discontinued, out = [], [], []
    for c in changes:
        ch = c.change
        if ch.path == ("visibility",):
            after = shown(ch, ch.after)
            why = f" ({c.why})" if c.why else ""
            if asset.action is Action.CREATE or ch.before is None:
                out.append(f"visibility {after}{why}")
            else:
                out.append(f"visibility {shown(ch, ch.before)} {arrow} {after}{why}")
        elif ch.version is not None and ch.op is ChangeOp.ADD:
            published.append(ch.version)
        elif ch.version is not None:
            discontinued.append(ch.version)
    if published and asset.action is Action.CREATE:
        out.insert(0, f"published with {versions_phrase(published)}")
    elif published:
        out.append(f"{versions_phrase(published)} published")
    if discontinued:
        out.append(f"{versions_phrase(discontinued)} discontinued")
    return out


def text_diff(before: str, after: str) -> list[str]:
    """A changed text as unified-diff lines (`--- before`, `+++ after`, hunks), unescaped."""
    return list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=2
        )
    )


def subscriber_effect(effect: SubscriberSummary) -> str:
    """What a discontinue does to people, as every format says it (SPEC section 7):
    `discontinue: 12 subscribers keep access until their terms end; the last term runs until
    2027-02-01`."""
    if effect.count == 0:
        return "discontinue: no subscriber keeps access (no term is running)"
    head = (
        f"discontinue: {count(effect.count, 'subscriber')} "
        f"{'keeps' if effect.count == 1 else 'keep'} access until "
        f"{'its term ends' if effect.count == 1 else 'their terms end'}; "
    )
    if effect.last_end is None:
        return head + "a term never ends (subscribed while the duration was unlimited)"
    return head + f"the last term runs until {effect.last_end[:10]}"
