"""Without a PostgreSQL server the PostgreSQL tests skip with one line saying how to run them;
under CI=true they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent.parent
DEAD = "postgresql://postgres@127.0.0.1:1/test"


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    hooks = "pg_database, pg_url, pytest_collection_modifyitems, pytest_terminal_summary"
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom pg import {hooks}\n"
    )
    (tmp_path / "test_needs_pg.py").write_text(
        "def test_one(pg_url):\n    assert pg_url\n\n\ndef test_two(pg_url):\n    assert pg_url\n"
        "\n\ndef test_without():\n    pass\n"
    )
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "GALLERY_TEST_PG")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**environ, **env},
        timeout=120,
    )


def test_without_a_server_the_tests_skip_with_one_line_saying_how_to_run_them(
    tmp_path: Path,
) -> None:
    result = run_pytest(tmp_path, GALLERY_TEST_PG=DEAD)
    assert result.returncode == 0, result.stdout
    said = [line for line in result.stdout.splitlines() if "PostgreSQL" in line]
    assert len(said) == 1, result.stdout
    assert said[0].startswith("PostgreSQL tests skipped: no server at 127.0.0.1:1 (connection")
    assert said[0].endswith(
        "); start one or set GALLERY_TEST_PG=postgresql://USER@HOST:PORT/DATABASE (2 tests)"
    ), said[0]
    assert "1 passed, 2 deselected" in result.stdout and "SKIPPED" not in result.stdout


def test_under_ci_a_missing_server_fails_the_tests(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, GALLERY_TEST_PG=DEAD, CI="true")
    assert result.returncode == 1, result.stdout
    assert "1 passed, 2 errors" in result.stdout
    assert "PostgreSQL tests cannot run under CI=true: no server at 127.0.0.1:1 (" in result.stdout
    assert "SKIPPED" not in result.stdout
