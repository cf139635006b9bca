"""`--help` and the embedded path import none of the served gallery's libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import FLOWERS, Workspace, cli_env, config

HEAVY = ("fastapi", "starlette", "uvicorn", "httpx", "prometheus_client", "pydantic")

PROBE = """
import sys
from gallery_sync.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


def loaded(cwd: Path, *args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY:")]
    return [m for m in line[len("HEAVY:") :].split(",") if m]


def test_help_imports_no_server_or_http_library(tmp_path: Path) -> None:
    assert loaded(tmp_path, "--help") == []
    assert loaded(tmp_path, "serve", "--help") == []


def test_the_embedded_plan_and_apply_import_no_server_or_http_library(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    assert loaded(ws.root, "plan") == []
    assert loaded(ws.root, "apply", "--auto-approve") == []
    assert loaded(ws.root, "show") == []


def test_the_http_gallery_imports_httpx_but_no_server_library(tmp_path: Path) -> None:
    assert loaded(tmp_path, "show", "--gallery", "http://127.0.0.1:9") == ["httpx"]
