"""Config.locate: the places of many findings from one read that keeps only those places, the
same answers as Config.place (which reads the place of every key of the file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gallery_sync.config import load_config
from gallery_sync.config.loader import Config
from gallery_sync.diagnostics import Place

CONFIG = """\
apiVersion: gallery-sync/v1
publisher:
  account: acme-ml
defaults:
  region: cn-north-4
assets:
  first-asset:
    title: First
    description: |
      Two lines
      of text.
    categories: [ocr]
    versions:
      - version: 1.0.0
        ai_application: app-one
      - ai_application: app-two
        description: the version key comes second
        version: "1.1.0"
  second-asset:
    title: Second
    visibility: public
    versions:
      - {version: 2.0.0, ai_application: app-three, status: discontinued}
"""

QUERIES = [
    ("first-asset", None, None),
    ("first-asset", None, "title"),
    ("first-asset", None, "categories"),
    ("first-asset", None, "visibility"),  # not written: the asset's own place
    ("first-asset", "1.0.0", None),
    ("first-asset", "1.0.0", "ai_application"),
    ("first-asset", "1.1.0", "description"),
    ("first-asset", "1.1.0", "version"),
    ("first-asset", "1.0.0", "description"),  # not written: the version's place
    ("first-asset", "9.9.9", "region"),  # no such version, no such field: the asset's
    ("first-asset", "9.9.9", "title"),  # no such version: the field's
    ("second-asset", "2.0.0", "status"),
    ("second-asset", None, "visibility"),
]


def _config(tmp_path: Path) -> Config:
    (tmp_path / "gallery.yaml").write_text(CONFIG)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        config = load_config(["gallery.yaml"])
    finally:
        os.chdir(here)
    assert config.valid, config.diagnostics
    return config


def test_locate_answers_as_place_does(tmp_path: Path) -> None:
    located = _config(tmp_path).locate(QUERIES)
    expected = _config(tmp_path)
    assert located == {q: expected.place(*q) for q in QUERIES}


def test_locate_names_the_exact_lines(tmp_path: Path) -> None:
    located = _config(tmp_path).locate(QUERIES)
    assert located["first-asset", None, None] == Place("gallery.yaml", 7, 3)
    assert located["first-asset", None, "visibility"] == Place("gallery.yaml", 7, 3)
    assert located["first-asset", "1.1.0", "description"] == Place("gallery.yaml", 17, 9)
    assert located["first-asset", "1.0.0", "description"] == Place("gallery.yaml", 14, 9)
    assert located["first-asset", "9.9.9", "title"] == Place("gallery.yaml", 8, 5)
    assert located["second-asset", "2.0.0", "status"] == Place("gallery.yaml", 23, 53)


def test_locate_keeps_only_the_places_asked_for(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.locate([("second-asset", None, "title")])
    doc = config.asset_docs["second-asset"]
    assert doc._positions is None  # the file's every place was never read
    assert config.place("second-asset", None, "title") == Place("gallery.yaml", 20, 5)


@pytest.mark.parametrize("query", QUERIES)
def test_one_query_at_a_time(tmp_path: Path, query: tuple[str, str | None, str | None]) -> None:
    assert _config(tmp_path).locate([query]) == {query: _config(tmp_path).place(*query)}
