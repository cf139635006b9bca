"""A plan reads a config's places (a second pass over its file, a dict of every key) only for
a finding that needs one: a plan of new assets without findings never does."""

from __future__ import annotations

from pathlib import Path

from gallery_sync.config.loader import load_config
from gallery_sync.diagnostics import Place
from gallery_sync.engine import desired_state
from gallery_sync.model import Application, Catalog, GalleryState
from gallery_sync.plan import build_plan

CONFIG = """apiVersion: gallery-sync/v1
publisher:
  account: acme-ml
  accepted_agreements: [digital-content-publishing, ai-gallery-service]
assets:
  flowers:
    title: Flowers
    versions:
      - version: "1.0.0"
        region: cn-north-4
        ai_application: app
"""
CATALOG = Catalog(
    frozenset(),
    frozenset({"digital-content-publishing", "ai-gallery-service"}),
    {("cn-north-4", "app"): Application("app", "cn-north-4")},
)


def test_the_publishers_place_is_read_only_for_a_publisher_mismatch(tmp_path: Path) -> None:
    (tmp_path / "gallery.yaml").write_text(CONFIG)
    config = load_config([str(tmp_path / "gallery.yaml")])
    assert config.first_doc is not None
    wanted = desired_state(config)
    plan = build_plan(wanted, GalleryState({}), CATALOG, gallery="g", account="acme-ml")
    assert [a.action.value for a in plan.assets] == ["create"] and not plan.diagnostics
    assert config.first_doc._positions is None  # never read: no finding needed a place
    plan = build_plan(wanted, GalleryState({}), CATALOG, gallery="g", account="other")
    [mismatch] = plan.diagnostics
    assert (mismatch.code, mismatch.place) == (
        "publisher-mismatch",
        Place(str(tmp_path / "gallery.yaml"), 3, 3),
    )
