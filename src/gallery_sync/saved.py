"""Saved plans: read a plan file back and refuse it whole if the gallery moved since."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.diff import ChangeOp, lookup
from gallery_sync.errors import GalleryRefusal, GallerySyncError
from gallery_sync.gallery import Gallery
from gallery_sync.model import Asset, GalleryState
from gallery_sync.plan import FORMAT_VERSION, Plan, PlannedChange


def read_plan_file(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GallerySyncError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GallerySyncError(f"plan file {path} is not a gallery-sync plan: {exc}") from exc
    if not isinstance(data, dict) or "format_version" not in data:
        raise GallerySyncError(f"plan file {path} is not a gallery-sync plan (no format_version)")
    if data["format_version"] != FORMAT_VERSION:
        raise GallerySyncError(
            f"plan file {path} has format_version {data['format_version']!r}; this gallery-sync "
            f"reads format_version {FORMAT_VERSION!r}. Plan again with this version"
        )
    try:
        return Plan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise GallerySyncError(f"plan file {path} is damaged: {exc!r}") from exc


def load_saved_plan(
    path: Path, open_gallery: Callable[[str | None], Gallery], gallery_url: str | None
) -> tuple[Plan, Gallery]:
    """The plan and its gallery, checked: no errors, same gallery, nothing it touches moved."""
    plan = read_plan_file(path)
    if plan.has_errors:
        raise GallerySyncError(f"plan file {path} has errors; fix them and plan again")
    if gallery_url and gallery_url != plan.gallery:
        raise GallerySyncError(
            f"plan file {path} was made for gallery {plan.gallery}, not {gallery_url}; "
            "plan again against this gallery"
        )
    gallery = open_gallery(plan.gallery)
    stale = stale_assets(plan, gallery.read_state())
    if stale:
        raise GalleryRefusal(stale)
    return plan, gallery


def stale_assets(plan: Plan, state: GalleryState) -> list[Diagnostic]:
    """A stale-plan diagnostic for every asset the plan touches that changed since it was made."""
    found = []
    for asset in plan.changed:
        current = state.assets.get(asset.id)
        now = current.revision if current else None
        if now == asset.revision:
            continue
        if asset.revision is None:
            what = f"it was created meanwhile (now at revision {now})"
        elif current is None:
            what = "it no longer exists"
        else:
            what = f"revision {asset.revision} -> {now}" + _what_changed(asset.changes, current)
        found.append(
            Diagnostic.of(
                "stale-plan",
                f"asset {asset.id!r} changed in the gallery since the plan was made: {what}. "
                "Nothing was applied; run plan again and review the new plan",
                asset=asset.id,
            )
        )
    return found


def _what_changed(changes: tuple[PlannedChange, ...], current: Asset) -> str:
    body = current.to_json()
    moved = []
    for planned in changes:
        change = planned.change
        if change.op is ChangeOp.ADD and change.before is None:
            continue
        if lookup(body, change.path) != change.before:
            moved.append(change.field)
    return f" ({', '.join(moved)} changed)" if moved else ""
