"""The files a config names (description_file, cover): read once each, by their real path,
symlinks inside the config root followed and named as their target, never one outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gallery_sync.config import load_config
from gallery_sync.files import FileRefused, read_regular

CONFIG = """\
apiVersion: gallery-sync/v1
publisher:
  account: acme
  accepted_agreements: [a1]
assets:
  flowers:
    title: Flowers
    description_file: {written}
    versions:
      - version: 1.0.0
        region: cn-north-4
        ai_application: app
"""


def load(root: Path, written: str) -> tuple[object, dict[str, str], list[str]]:
    (root / "gallery.yaml").write_text(CONFIG.format(written=written))
    config = load_config([str(root / "gallery.yaml")])
    codes = [d.code for d in config.diagnostics]
    asset = config.well_typed.get("flowers")
    return (asset.description if asset else None), config.inputs, codes


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("the real text\r\n")
    return tmp_path


def test_a_plain_file_is_read_and_named_as_written(root: Path) -> None:
    text, inputs, codes = load(root, "docs/real.md")
    assert (text, codes) == ("the real text\n", [])
    assert os.path.join("docs", "real.md") in inputs


def test_a_symlink_inside_the_root_is_followed_and_named_as_its_target(root: Path) -> None:
    os.symlink("real.md", root / "docs" / "link.md")
    text, inputs, codes = load(root, "docs/link.md")
    assert (text, codes) == ("the real text\n", [])
    assert os.path.join("docs", "real.md") in inputs
    assert os.path.join("docs", "link.md") not in inputs


def test_a_symlink_out_of_the_root_is_refused(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.md"
    outside.write_text("secret")
    os.symlink(outside, root / "docs" / "escape.md")
    text, inputs, codes = load(root, "docs/escape.md")
    assert codes == ["path-outside-root"]
    assert text != "secret" and not any("secret" in path for path in inputs)


def test_a_name_starting_with_two_dots_is_a_file_in_its_folder(root: Path) -> None:
    (root / "..notes.md").write_text("notes")
    text, inputs, codes = load(root, "..notes.md")
    assert (text, codes) == ("notes", [])
    # Shown as _display shows it: a relative name starting with .. would read as outside.
    assert str(root.resolve() / "..notes.md") in inputs


def test_a_folder_through_dot_dot_resolves_as_realpath(root: Path) -> None:
    (root / "sub").mkdir()
    text, inputs, codes = load(root, "sub/../docs/real.md")
    assert (text, codes) == ("the real text\n", [])
    assert os.path.join("docs", "real.md") in inputs


def test_read_regular_without_following_refuses_a_symlink(root: Path) -> None:
    os.symlink("real.md", root / "docs" / "link.md")
    with pytest.raises(FileRefused) as caught:
        read_regular(root / "docs" / "link.md", limit=100, follow=False)
    assert caught.value.reason == "symlink"
    assert read_regular(root / "docs" / "link.md", limit=100) == b"the real text\r\n"
    assert read_regular(root / "docs" / "real.md", limit=100, follow=False).startswith(b"the")
