"""An import larger than one config file may be: written in parts that load back as the same
assets (the per-file cap lowered here, so that the test needs kilobytes, not 64 MiB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery_sync.config import loader, yamlload
from gallery_sync.config.loader import load_config
from gallery_sync.importer import build_import, write_import
from gallery_sync.model import (
    Asset,
    Catalog,
    DurationLimit,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)

CAP = 40_000  # bytes: the lowered per-file cap of the loader


def gallery_assets(n: int) -> dict[str, Asset]:
    """Assets of every shape the importer writes: long and multi-line descriptions (some to
    docs/), hostile titles, several regions, discontinued versions, specific users."""
    out = {}
    for i in range(n):
        versions = tuple(
            Version(
                f"1.{v}.0",
                "cn-north-4" if (i + v) % 3 else "cn-east-3",
                f"app-{i}-{v}",
                f"Release {v}: yes\n  indented: # not a comment" if v % 2 else "",
                Status.DISCONTINUED if v == 0 and i % 4 == 0 else Status.RELEASED,
            )
            for v in range(3)
        )
        out[f"asset-{i:04d}"] = Asset(
            id=f"asset-{i:04d}",
            publisher="acme-ml",
            title=["no", "1.0", "a: b #c", "Model é 😀", "  lead", "x \u202e y"][i % 6] + f" {i}",
            versions=versions,
            description=("Line one.\n\nLine two.  \n" * (1 + i % 40)) if i % 2 else "",
            categories=("computer-vision", "ocr")[: i % 3],
            visibility=(
                Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bob", "alice"}))
                if i % 5 == 0
                else Visibility(VisibilityLevel(i % 3 if i % 3 != 1 else 2))
            ),
            duration_limit=DurationLimit(30 + i, bool(i % 2)) if i % 3 == 0 else DurationLimit(),
            status=Status.DISCONTINUED if i % 7 == 6 else Status.RELEASED,
        )
    return out


CATALOG = Catalog(frozenset(), frozenset({"ai-gallery-service"}), {})


def test_an_import_over_the_file_cap_is_written_in_parts_that_load_as_the_same_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlload, "MAX_FILE_BYTES", CAP)
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", CAP)
    assets = gallery_assets(300)
    imported = build_import(assets, CATALOG, "acme-ml", lambda sha: None, part_bytes=CAP // 2)
    sizes = [len(part) for part in imported.parts]
    assert sum(sizes) > 3 * CAP  # one file would be refused: input-too-large
    assert all(size <= CAP // 2 for size in sizes) and len(sizes) >= 6
    written = write_import(imported, tmp_path / "gallery.yaml", tmp_path, force=False)
    names = [p.name for p in written[: len(sizes)]]
    assert names == ["gallery.yaml"] + [f"gallery-{i}.yaml" for i in range(2, len(sizes) + 1)]

    config = load_config([str(tmp_path)])
    assert config.diagnostics == []
    assert config.assets.keys() == assets.keys()
    for asset_id, asset in assets.items():
        assert config.assets[asset_id].to_json() == asset.to_json(), asset_id

    # The same import as one file is what the cap refuses.
    one = build_import(assets, CATALOG, "acme-ml", lambda sha: None, part_bytes=10**9)
    assert len(one.parts) == 1
    whole = tmp_path / "whole" / "gallery.yaml"
    whole.parent.mkdir()
    whole.write_bytes(one.parts[0])
    assert [d.code for d in load_config([str(whole)]).diagnostics] == ["input-too-large"]


def test_a_smaller_import_replaces_the_parts_of_a_larger_one_only_when_forced(
    tmp_path: Path,
) -> None:
    assets = gallery_assets(60)
    big = build_import(assets, CATALOG, "acme-ml", lambda sha: None, part_bytes=4_000)
    write_import(big, tmp_path / "gallery.yaml", tmp_path, force=False)
    parts = len(big.parts)
    assert parts > 3 and (tmp_path / f"gallery-{parts}.yaml").exists()
    small = build_import(assets, CATALOG, "acme-ml", lambda sha: None, part_bytes=10**6)
    assert len(small.parts) == 1
    with pytest.raises(Exception, match="remove parts of an earlier import") as refused:
        write_import(small, tmp_path / "gallery.yaml", tmp_path, force=False)
    assert f"gallery-{parts}.yaml" in str(refused.value)
    assert (tmp_path / "gallery-2.yaml").exists()
    write_import(small, tmp_path / "gallery.yaml", tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["gallery.yaml"]
    config = load_config([str(tmp_path)])
    assert config.diagnostics == [] and len(config.assets) == 60
