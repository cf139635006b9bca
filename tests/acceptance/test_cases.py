"""Runs the CLI over every case folder: the refused config at its lines, then the legal one.

A case folder holds gallery.yaml (the config under test), expected.json (command, exit code,
diagnostics as [code, line, severity], message fragments by line), and optionally
before.yaml (applied first, to set up the gallery; "before" lists several) and legal.yaml
(the nearest legal change: it must plan without errors and apply).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import Workspace

CASES = Path(__file__).parent / "cases"


def _cases() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "expected.json").exists())


@pytest.mark.parametrize("name", _cases())
def test_case(name: str, ws: Workspace) -> None:
    shutil.copytree(CASES / name, ws.root, dirs_exist_ok=True, symlinks=True)
    expected = json.loads((ws.root / "expected.json").read_text())
    for link, target in expected.get("symlinks", {}).items():
        (ws.root / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, ws.root / link)
    befores = ["before.yaml"] if (ws.root / "before.yaml").exists() else []
    for before in expected.get("before", befores):
        setup = ws.run("apply", "-f", before, "--auto-approve")
        assert setup.code == 0, setup.out + setup.err

    command = expected["command"]
    args = expected.get("args", ["-f", "gallery.yaml"])
    extra = ["--detailed-exitcode"] if command == "plan" else []
    result = ws.run(command, *args, "--format", "json", *extra)
    assert result.code == expected["exit"], result.out + result.err
    body = result.json()
    found = sorted([d["code"], d["line"], d["severity"]] for d in body["diagnostics"])
    assert found == sorted(expected["diagnostics"], key=lambda d: (d[0], d[1] or 0, d[2]))
    by_line = {str(d["line"]): d for d in body["diagnostics"]}
    for line, fragment in expected.get("messages", {}).items():
        assert fragment.lower() in by_line[line]["message"].lower()
    for line, file in expected.get("files", {}).items():
        assert by_line[line]["file"] == file

    if "apply_exit" in expected:
        state_before = ws.gallery().read_state()
        applied = ws.run("apply", *args, "--auto-approve")
        assert applied.code == expected["apply_exit"], applied.out + applied.err
        assert ws.gallery().read_state() == state_before

    if (ws.root / "legal.yaml").exists():
        legal_args = ["-f", "legal.yaml", *expected.get("legal_args", [])]
        legal = ws.run("plan", *legal_args, "--format", "json")
        assert legal.code == 0, legal.out + legal.err
        assert not [d for d in legal.json()["diagnostics"] if d["severity"] == "error"]
        applied = ws.run("apply", *legal_args, "--auto-approve")
        assert applied.code == 0, applied.out + applied.err
        again = ws.run("plan", *legal_args, "--detailed-exitcode")
        assert again.code == 0, again.out + again.err
