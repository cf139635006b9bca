"""The rules `validate` can decide offline, without a gallery: which ones, and how they are said.

Static (the same whatever the gallery holds):
- `unknown-category`, checked against the default taxonomy this version ships (a gallery may
  publish its own, which decides at plan; the message says so);
- `version-discontinue-last` for a released asset whose every version is discontinued: new, it
  could not be published; existing, it would be left with nothing to offer.

Not static, left to plan: `new-asset-discontinued` and `new-version-discontinued` (whether an
asset or version is new depends on the gallery), `agreement-missing` (the gallery's current
agreements), `application-not-found` and `image-policy` (its catalog), and every transition.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from gallery_sync import rules
from gallery_sync.config.loader import Config, PlaceQuery
from gallery_sync.config.yamlload import Document
from gallery_sync.defaults import DEFAULT_CATEGORIES
from gallery_sync.diagnostics import Diagnostic, Place
from gallery_sync.model import Asset, Catalog, Status

_DEFAULT_CATALOG = Catalog(
    categories=frozenset(DEFAULT_CATEGORIES), agreements=frozenset(), applications={}
)
_GALLERY_WORDS = "the gallery's taxonomy"
_DEFAULT_WORDS = "the default taxonomy"
_OFFLINE = (
    ". validate checks offline against the default taxonomy this version ships; a gallery that "
    "publishes its own taxonomy decides at plan"
)


def check_static(config: Config) -> list[Diagnostic]:
    """Every static rule broken by the config's well-typed assets (those whose own fields
    passed the schema), whatever else in the config has errors."""
    ctx = rules.Context(_DEFAULT_CATALOG, config.publisher or "", config.accepted_agreements)
    # The findings first, then their places, asked for all at once: one read of each file that
    # keeps those places only (a place asked asset by asset read every key's of the file:
    # validate of 10,000 assets each with an unknown category peaked at 229 MiB).
    broken = [
        (asset, list(rules._check_categories(None, asset, ctx)), _all_discontinued(asset))
        for asset in config.well_typed.values()
    ]
    broken = [b for b in broken if b[1] or b[2]]
    items = _category_items(config, [asset for asset, unknown, _ in broken if unknown])
    unknown_of = {
        asset.id: [c for c in asset.categories if c not in _DEFAULT_CATALOG.categories]
        for asset, violations, _ in broken
        if violations
    }
    queries: list[PlaceQuery] = [
        (asset_id, None, "categories")
        for asset_id, unknown in unknown_of.items()
        if any((asset_id, c) not in items for c in unknown)
    ]
    queries += [(a.id, None, name) for a, _, ended in broken if ended for name in ("status", None)]
    where = config.locate(queries) if queries else {}  # a second read only if need be
    found: list[Diagnostic] = []
    for asset, violations, ended in broken:
        unknown = unknown_of.get(asset.id, [])
        for i, violation in enumerate(violations):
            # The rule and its "did you mean" are the ones plan applies, with the default
            # taxonomy; the line is the category's own list item, else `categories:`'s.
            message = violation.message.replace(_GALLERY_WORDS, _DEFAULT_WORDS, 1) + _OFFLINE
            place = items.get((asset.id, unknown[i])) or where[asset.id, None, "categories"]
            found.append(Diagnostic.of(violation.code, message, place=place, asset=asset.id))
        if ended:
            found.append(
                _no_released_version(
                    asset, where[asset.id, None, "status"] or where[asset.id, None, None]
                )
            )
    return found


def _all_discontinued(asset: Asset) -> bool:
    return asset.status is Status.RELEASED and not asset.released_versions


def _a_category_of(ids: set[str], path: tuple[Any, ...]) -> bool:
    return len(path) == 4 and path[0] == "assets" and path[2] == "categories" and path[1] in ids


def _category_items(config: Config, assets: list[Asset]) -> dict[tuple[str, str], Place]:
    """(asset, category) -> the place of the category's first item in the asset's list, for
    these assets: one read of each file they are in, keeping those items' places only."""
    wanted: dict[int, tuple[Document, set[str]]] = {}
    for asset in assets:
        doc = config.asset_docs.get(asset.id)
        if doc is not None:
            wanted.setdefault(id(doc), (doc, set()))[1].add(asset.id)
    out: dict[tuple[str, str], Place] = {}
    for doc, ids in wanted.values():
        marked = doc.marks(partial(_a_category_of, ids))
        if marked is None:  # every place of the file known already: from its data
            for asset_id in ids:
                body = doc.kept_data()["assets"][asset_id]
                written = body.get("categories") if isinstance(body, dict) else None
                for index, category in enumerate(written if isinstance(written, list) else []):
                    if isinstance(category, str):
                        at = doc.place(("assets", asset_id, "categories", index))
                        out.setdefault((asset_id, category), at)
            continue
        positions, values = marked
        for path, category in values.items():
            if len(path) == 4 and isinstance(category, str) and path in positions:
                # values come in file order: the first item of a category is its index()
                out.setdefault((path[1], category), Place(doc.file, *positions[path]))
    return out


def _no_released_version(asset: Asset, place: Place | None) -> Diagnostic:
    return Diagnostic.of(
        "version-discontinue-last",
        f"asset {asset.id!r} is released but every version of it is discontinued; a "
        "released asset must keep at least one released version. Add a released version, "
        "or discontinue the whole asset (status: discontinued)",
        place=place,
        asset=asset.id,
    )
