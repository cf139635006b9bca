"""The benchmark's generated configs are valid, so the benchmark measures real work."""

from __future__ import annotations

import sys
from pathlib import Path

from gallery_sync.config import load_config
from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate


def test_generated_config_is_valid_and_uses_every_visibility(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(generate(30, changed=0.5))
    config = load_config([str(tmp_path / "g.yaml")])
    assert config.diagnostics == []
    assert len(config.assets) == 30
    assert {a.visibility.name for a in config.assets.values()} == {
        "only_me",
        "specific_users",
        "public",
    }
    assert all(len(a.versions) == 5 for a in config.assets.values())
