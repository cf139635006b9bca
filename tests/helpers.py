"""Test helpers: a working directory with a gallery, and the CLI run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
IMAGE_OK = "swr.cn-north-4.myhuaweicloud.com/acme-ml/summarizer-t5@sha256:" + "ab" * 32

# The AI applications every test gallery knows, as `apps add` registers them.
APPS = [
    ("flowers-resnet50", "cn-north-4", None),
    ("flowers-resnet50-v2", "cn-east-3", None),
    ("flowers-resnet50-v3", "cn-north-4", None),
    ("invoice-ocr-layoutlm", "cn-north-4", None),
    ("summarizer-t5", "cn-north-4", IMAGE_OK),
    ("summarizer-unpinned", "cn-north-4", "swr.cn-north-4.myhuaweicloud.com/acme-ml/sum:latest"),
    ("summarizer-dockerhub", "cn-north-4", "acme/summarizer@sha256:" + "cd" * 32),
]


def cli_env(*drop: str) -> dict[str, str]:
    """This process's environment without the user's GALLERY_* settings (and `drop` prefixes)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GALLERY_", *drop))}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __bool__(self) -> bool:
        # A Result is always truthy: `assert ws.run(...)` could never fail. Assert its code.
        raise TypeError("assert a Result's .code (or .out/.err), not the Result itself")


class Workspace:
    """A directory holding config files and its embedded gallery, driven through the real CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def run(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
        full_env = cli_env()
        full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
        proc = subprocess.run(
            [sys.executable, "-m", "gallery_sync", *args],
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def register_apps(self) -> None:
        from gallery_sync.gallery import open_gallery
        from gallery_sync.model import Application

        gallery = open_gallery(f"sqlite:///{self.root / '.gallery' / 'gallery.db'}", create=True)
        for name, region, image in APPS:
            gallery.add_application(Application(name, region, image))
        gallery.close()

    def gallery(self, account: str | None = None) -> Any:
        """The workspace's embedded gallery, used as `account` (None: read everything)."""
        from gallery_sync.gallery import Principal, open_gallery

        url = f"sqlite:///{self.root / '.gallery' / 'gallery.db'}"
        return open_gallery(url, principal=Principal.embedded(account))


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def config(assets: str = "", *, account: str = "acme-ml", agreements: bool = True) -> str:
    """A gallery.yaml with the usual header and the given (already indented) assets block."""
    accepted = (
        "  accepted_agreements: [digital-content-publishing, ai-gallery-service]\n"
        if agreements
        else ""
    )
    return (
        "apiVersion: gallery-sync/v1\n"
        f"publisher:\n  account: {account}\n{accepted}"
        "defaults:\n  region: cn-north-4\n"
        "assets:\n" + assets
    )


# One asset, one version: the smallest config most tests start from.
FLOWERS = """  flowers:
    title: Flowers
    visibility: {visibility}
    versions:
      - version: "1.0.0"
        ai_application: flowers-resnet50
"""


def copy_example(ws: Workspace) -> None:
    """The repository's example config, with its cover images and description files."""
    shutil.copy(REPO / "gallery.yaml", ws.root / "gallery.yaml")
    shutil.copytree(REPO / "covers", ws.root / "covers")
    shutil.copytree(REPO / "docs", ws.root / "docs")
