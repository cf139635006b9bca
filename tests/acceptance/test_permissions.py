"""What a user who may not read a folder sees: one line naming the file and why, never an
internal error. Run as user nobody (setpriv), since the tests run as root, who may read all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import FLOWERS, cli_env, config

SETPRIV = shutil.which("setpriv")
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]

pytestmark = [
    pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is needed to run as nobody"),
    pytest.mark.skipif(os.geteuid() != 0, reason="only root may become nobody with setpriv"),
]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder nobody may use (pytest's tmp_path is root's alone), holding `unr`, mode 000."""
    root = Path(tempfile.mkdtemp(prefix="gallery-sync-perm-"))
    root.chmod(0o777)
    (root / "gallery.yaml").write_text(config(FLOWERS.format(visibility="only_me")))
    (root / "gallery.yaml").chmod(0o644)
    unreadable = root / "unr"
    unreadable.mkdir()
    shutil.copy(root / "gallery.yaml", unreadable / "g.yaml")
    unreadable.chmod(0o000)
    yield root
    unreadable.chmod(0o755)
    shutil.rmtree(root)


def as_nobody(root: Path, *args: str) -> tuple[int, str, str]:
    assert SETPRIV is not None
    proc = subprocess.run(
        [SETPRIV, *NOBODY, sys.executable, "-m", "gallery_sync", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**cli_env(), "NO_COLOR": "1"},
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


CANNOT_READ = "[error] cannot read config file unr/g.yaml: Permission denied (file-not-found)\n"


@pytest.mark.parametrize(
    ("args", "out", "err"),
    [
        (["validate", "-f", "unr/g.yaml"], CANNOT_READ + "1 error, 0 warnings: invalid.\n", ""),
        (["plan", "-f", "unr/g.yaml"], CANNOT_READ + "1 error, 0 warnings: invalid.\n", ""),
        (
            ["show", "--gallery", "sqlite:///unr/g.db"],
            "",
            "error: cannot open the gallery at unr/g.db: Permission denied (gallery-unavailable)\n",
        ),
        (
            ["history", "--gallery", "sqlite:///unr/g.db"],
            "",
            "error: cannot open the gallery at unr/g.db: Permission denied (gallery-unavailable)\n",
        ),
        (
            ["show", "-f", "unr/g.yaml"],
            "",
            "error: cannot open the gallery at unr/.gallery/gallery.db: Permission denied "
            "(gallery-unavailable)\n",
        ),
        (
            ["apps", "add", "q", "--region", "cn-north-4", "--gallery", "sqlite:///unr/x/g.db"],
            "",
            "error: cannot open the gallery at unr/x/g.db: Permission denied "
            "(gallery-unavailable)\n",
        ),
    ],
)
def test_an_unreadable_folder_is_one_line_naming_it(
    shared: Path, args: list[str], out: str, err: str
) -> None:
    assert as_nobody(shared, *args) == (1, out, err)


def test_a_read_only_gallery_is_read_and_left_untouched(shared: Path) -> None:
    from helpers import Workspace

    ws = Workspace(shared)
    ws.register_apps()
    assert ws.run("apply", "--auto-approve").code == 0
    folder = shared / ".gallery"
    db = folder / "gallery.db"
    db.chmod(0o444)
    folder.chmod(0o555)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    try:
        plan = as_nobody(shared, "plan")
        assert plan[0] == 0 and plan[1].endswith(
            "No changes. The gallery matches the configuration.\n"
            "Plan: 0 to create, 0 to update, 0 to discontinue, 0 to release.\n"
        ), plan
        show = as_nobody(shared, "show", "flowers")
        assert show[0] == 0 and show[1].startswith("flowers  (publisher acme-ml, revision 1"), show
        history = as_nobody(shared, "history", "--format", "json")
        assert history[0] == 0 and '"change": {' in history[1], history
        listed = as_nobody(shared, "apps", "list")
        assert listed[0] == 0 and "cn-north-4\tflowers-resnet50\n" in listed[1], listed
        apply = as_nobody(shared, "apply", "--auto-approve")
        assert apply[:2] == (1, "") and apply[2].startswith(
            "error: cannot open the gallery at .gallery/gallery.db: attempt to write a readonly "
            "database"
        ), apply
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    finally:
        folder.chmod(0o755)
