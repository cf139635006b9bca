"""Fixtures shared by unit and acceptance tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty directory with an embedded gallery that knows the test AI applications."""
    workspace = Workspace(tmp_path)
    workspace.register_apps()
    return workspace
