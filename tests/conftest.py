"""Fixtures shared by unit and acceptance tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Workspace

# PostgreSQL: a database per session, a schema per test; skipped without a server (one line
# saying how to run them), failed instead under CI=true.
from pg import (  # noqa: F401
    pg_database,
    pg_url,
    pytest_collection_modifyitems,
    pytest_terminal_summary,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty directory with an embedded gallery that knows the test AI applications."""
    workspace = Workspace(tmp_path)
    workspace.register_apps()
    return workspace
