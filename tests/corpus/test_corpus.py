"""The bad-input corpus: every case through the real CLI, each refused with its codes and lines.

A case is `cases/NAME.yaml` (copied as gallery.yaml) or a folder `cases/NAME/`; expected.json
holds, per case, the diagnostics as [code, line] (line null where a problem has no place) and
optionally: `command` (default validate), `args` (default -f gallery.yaml), `messages`
(line -> a fragment the message at that line must hold), `before` (a config applied first),
`gallery_sql` (statements then run on .gallery/gallery.db: a damaged gallery), and `make`:
special files created here at run time, never committed (fifo, dir, symlink:TARGET,
sparse:SIZE — a file of SIZE bytes that takes no disk).

Every case must end with exit 1, exactly its codes at their lines, no traceback and no
"internal error", within 2 s of CPU time (the child's own, from its rusage: a loaded machine
does not stretch it) and 10 s of wall-clock time (a hang). The real times are about 0.2 s.
A command that stops (a tampered plan, a damaged gallery) prints no JSON: its codes are read
from its error lines, `file:line:col: [error] ... (code)` or `error: ... (code)`.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import Workspace

CORPUS = Path(__file__).parent
TABLE: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
# Loose on purpose: a loaded CI machine is slow; a hang or an unbounded read is far slower.
BOUND_SECONDS = 10.0
CPU_SECONDS = 2.0  # the bound, per case, in the child's CPU time
_ERROR_LINE = re.compile(r"^(?:.*?:(\d+):\d+: )?(?:\[(?:error|warning)\] |error: ).*\(([a-z-]+)\)$")


def _make(root: Path, relative: str, spec: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    kind, _, arg = spec.partition(":")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir(exist_ok=True)
    elif kind == "symlink":
        os.symlink(arg, path)
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(int(arg))
    else:
        raise ValueError(f"unknown special file {spec!r}")


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _error_lines(err: str) -> list[dict[str, Any]]:
    """A stopped command's error lines as diagnostics: every line must be one."""
    found = []
    for text in err.splitlines():
        match = _ERROR_LINE.match(text)
        assert match, f"not an error line with a code: {text!r}"
        line = int(match.group(1)) if match.group(1) else None
        found.append({"code": match.group(2), "line": line, "message": text})
    return found


def _line_key(item: list[Any]) -> tuple[str, int]:
    return (item[0], item[1] or 0)


def test_the_corpus_is_large_enough() -> None:
    assert len(TABLE) >= 80
    on_disk = {p.name.removesuffix(".yaml") for p in (CORPUS / "cases").iterdir()}
    # A case made wholly at run time (a FIFO or device as the config) has no file: git keeps
    # no empty folder. It names what it runs on instead.
    made = {name for name, case in TABLE.items() if name not in on_disk and "args" in case}
    assert on_disk | made == set(TABLE), "every case file has its expectations, and no more"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_bad_input_is_refused_with_its_codes_and_lines(name: str, tmp_path: Path) -> None:
    case = TABLE[name]
    source = CORPUS / "cases" / name
    if source.is_dir():
        shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    elif not source.with_suffix(".yaml").exists():
        assert "args" in case, f"{name}: no case file, and no args naming what to read"
    else:
        shutil.copy(CORPUS / "cases" / f"{name}.yaml", tmp_path / "gallery.yaml")
    for relative, spec in case.get("make", {}).items():
        _make(tmp_path, relative, spec)
    ws = Workspace(tmp_path)
    if "before" in case:
        ws.register_apps()
        setup = ws.run("apply", "-f", case["before"], "--auto-approve")
        assert setup.code == 0, setup.out + setup.err
    if "gallery_sql" in case:
        db = sqlite3.connect(tmp_path / ".gallery" / "gallery.db")
        for statement in case["gallery_sql"]:
            db.execute(statement)
        db.commit()
        db.close()

    cpu_before = _children_cpu()
    started = time.monotonic()
    result = ws.run(
        case.get("command", "validate"),
        *case.get("args", ["-f", "gallery.yaml"]),
        "--format",
        "json",
    )
    elapsed = time.monotonic() - started
    cpu = _children_cpu() - cpu_before

    assert elapsed < BOUND_SECONDS, f"{name} took {elapsed:.1f} s"
    assert cpu < CPU_SECONDS, f"{name} used {cpu:.2f} s of CPU time"
    assert "internal error" not in result.err, result.err
    assert result.code == 1, result.out + result.err
    diagnostics = result.json()["diagnostics"] if result.out else _error_lines(result.err)
    found = sorted(([d["code"], d["line"]] for d in diagnostics), key=_line_key)
    assert found == sorted(case["codes"], key=_line_key), json.dumps(diagnostics, indent=1)
    by_line = {str(d["line"]): d["message"] for d in diagnostics}
    for line, fragment in case.get("messages", {}).items():
        assert fragment in by_line[line], by_line[line]
