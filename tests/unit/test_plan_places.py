"""A plan with a finding on every asset reads the places of those findings only (one marked
read that keeps them), not the place of every key of the file, and points at the same lines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gallery_sync.config.loader import load_config
from gallery_sync.diagnostics import Place
from gallery_sync.engine import desired_state
from gallery_sync.model import Application, Catalog, GalleryState
from gallery_sync.plan import build_plan

HEAD = """apiVersion: gallery-sync/v1
publisher:
  account: acme-ml
  accepted_agreements: [digital-content-publishing]
assets:
"""
ASSET = """  asset-{i}:
    title: Asset {i}
    categories: [ocr, no-such-one]
    versions:
      - version: "1.0.0"
        region: cn-north-4
        ai_application: app
"""
CATALOG = Catalog(
    frozenset({"ocr"}),
    frozenset({"digital-content-publishing"}),
    {("cn-north-4", "app"): Application("app", "cn-north-4")},
)


def _plan_of(path: Path, *, batched: bool):  # type: ignore[no-untyped-def]
    config = load_config([str(path)])
    wanted = desired_state(config)
    if not batched:
        wanted = replace(wanted, locate=None)
    plan = build_plan(wanted, GalleryState({}), CATALOG, gallery="g", account="acme-ml")
    return config, plan


def test_an_error_on_every_asset_keeps_only_their_places(tmp_path: Path) -> None:
    path = tmp_path / "gallery.yaml"
    path.write_text(HEAD + "".join(ASSET.format(i=i) for i in range(20)))
    config, plan = _plan_of(path, batched=True)
    assert [d.code for d in plan.diagnostics] == ["unknown-category"] * 20
    assert [d.place for d in plan.diagnostics] == [
        Place(str(path), 8 + 7 * i, 5) for i in range(20)
    ]
    assert config.first_doc is not None
    assert config.first_doc._positions is None  # the place of every key was never read


def test_the_places_are_those_of_one_lookup_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "gallery.yaml"
    path.write_text(HEAD + "".join(ASSET.format(i=i) for i in range(5)))
    _, batched = _plan_of(path, batched=True)
    one_by_one_config, one_by_one = _plan_of(path, batched=False)
    assert batched.diagnostics == one_by_one.diagnostics
    assert one_by_one_config.first_doc is not None
    assert one_by_one_config.first_doc._positions is not None  # it read them all
