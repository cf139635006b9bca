"""Fixtures shared by unit and acceptance tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from helpers import Workspace

# PostgreSQL: a database per session, a schema per test; skipped without a server (one line
# saying how to run them), failed instead under CI=true.
from pg import (  # noqa: F401
    pg_database,
    pg_url,
    pytest_collection_modifyitems,
    pytest_terminal_summary,
)

# Random examples locally (they find new bugs); a fixed sequence in CI (CI=...), so that a
# build cannot fail at random: what a local run finds becomes a test of its own.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("local")
settings.load_profile("ci" if os.environ.get("CI") else "local")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty directory with an embedded gallery that knows the test AI applications."""
    workspace = Workspace(tmp_path)
    workspace.register_apps()
    return workspace
