"""How field values read in a plan: short, one line, the same in every human format."""

from __future__ import annotations

import json
from typing import Any

from gallery_sync.diff import Change
from gallery_sync.model import DurationLimit, Visibility

MAX_SHOWN = 60


def shown(change: Change, value: Any) -> str:
    """One field value as a plan line shows it."""
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
