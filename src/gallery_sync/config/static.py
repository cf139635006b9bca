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

from gallery_sync import rules
from gallery_sync.config.loader import Config
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
    found: list[Diagnostic] = []
    ctx = rules.Context(_DEFAULT_CATALOG, config.publisher or "", config.accepted_agreements)
    for asset in config.well_typed.values():
        found += _categories(config, asset, ctx)
        found += _no_released_version(config, asset)
    return found


def _categories(config: Config, asset: Asset, ctx: rules.Context) -> list[Diagnostic]:
    # The rule and its "did you mean" are the ones plan applies, with the default taxonomy.
    found: list[Diagnostic] = []
    for violation in rules._check_categories(None, asset, ctx):
        message = violation.message.replace(_GALLERY_WORDS, _DEFAULT_WORDS, 1) + _OFFLINE
        unknown = [c for c in asset.categories if c not in _DEFAULT_CATALOG.categories]
        found.append(
            Diagnostic.of(
                violation.code,
                message,
                place=_category_place(config, asset, unknown[len(found)]),
                asset=asset.id,
            )
        )
    return found


def _category_place(config: Config, asset: Asset, category: str) -> Place | None:
    """The line of the category's own list item, else of `categories:`."""
    doc = config.asset_docs.get(asset.id)
    body = doc.kept_data()["assets"][asset.id] if doc is not None else None
    written = body.get("categories") if isinstance(body, dict) else None
    if doc is not None and isinstance(written, list) and category in written:
        return doc.place(("assets", asset.id, "categories", written.index(category)))
    return config.place(asset.id, name="categories")


def _no_released_version(config: Config, asset: Asset) -> list[Diagnostic]:
    if asset.status is not Status.RELEASED or asset.released_versions:
        return []
    return [
        Diagnostic.of(
            "version-discontinue-last",
            f"asset {asset.id!r} is released but every version of it is discontinued; a "
            "released asset must keep at least one released version. Add a released version, "
            "or discontinue the whole asset (status: discontinued)",
            place=config.place(asset.id, name="status") or config.place(asset.id),
            asset=asset.id,
        )
    ]
