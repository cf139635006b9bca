"""The benchmark's generated configs are valid, so the benchmark measures real work."""

from __future__ import annotations

import sys
from pathlib import Path

from gallery_sync.config import load_config
from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate, write_config


def test_generated_config_is_valid_and_uses_every_field(tmp_path: Path) -> None:
    write_config(tmp_path / "g.yaml", 30)
    config = load_config([str(tmp_path / "g.yaml")])
    assert config.diagnostics == []
    assert len(config.assets) == 30
    assert {a.visibility.name for a in config.assets.values()} == {
        "only_me",
        "specific_users",
        "public",
    }
    assert all(len(a.versions) == 5 for a in config.assets.values())
    # Every field is used: covers on all (real PNGs, 16 shared), description files on every 4th.
    assert len({a.cover for a in config.assets.values()}) == 16 and len(config.covers) == 16
    from_files = [a for a in config.assets.values() if a.description.startswith("# Model")]
    assert len(from_files) == 8  # assets 0, 4, ..., 28


def test_changed_assets_mix_titles_version_notes_and_new_versions(tmp_path: Path) -> None:
    write_config(tmp_path / "a.yaml", 60)
    write_config(tmp_path / "b.yaml", 60, changed=0.5)
    before = load_config([str(tmp_path / "a.yaml")]).assets
    after = load_config([str(tmp_path / "b.yaml")]).assets
    changed = [k for k in before if before[k] != after[k]]
    assert 15 <= len(changed) <= 45
    assert all(after[k].title.endswith("(updated)") for k in changed)
    new_versions = [k for k in changed if len(after[k].versions) == 6]
    new_notes = [
        k for k in changed if before[k].versions[4].description != after[k].versions[4].description
    ]
    assert len(new_versions) == len(changed) // 3
    assert len(new_notes) == len(changed) // 2


def test_a_valid_config_is_planned_without_reading_positions(tmp_path: Path) -> None:
    """Positions cost a second, full read; only a diagnostic that needs a place pays for it."""
    write_config(tmp_path / "g.yaml", 20)
    text = generate(20)
    config = load_config([str(tmp_path / "g.yaml")])
    assert config.valid and config.first_doc is not None
    assert config.first_doc._positions is None
    assert config.first_doc.data is None  # let go once the assets were built
    lines = text.splitlines()
    asset_line = lines.index("  asset-00003:")
    version_line = lines.index('      - version: "1.2.0"', asset_line)
    assert lines[version_line + 1].startswith("        region:")
    place = config.place("asset-00003", "1.2.0", "region")
    assert place is not None and (place.line, place.column) == (version_line + 2, 9)
    assert config.first_doc._positions is not None
