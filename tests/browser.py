"""The browser for the web tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright,
and axe-core from the npm registry (tests/web/node_modules). Without them the browser tests
are skipped with one line saying how to run them; under CI=true they fail instead, because
CI must run them (.ci/run installs both first)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("GALLERY_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "web" / "node_modules" / "axe-core" / "axe.min.js"
HOW = "make browser-tests-setup (apt-get install chromium; npm ci in tests/web)"


def missing() -> str | None:
    """What the browser tests lack on this machine (None: nothing)."""
    lacking = []
    if importlib.util.find_spec("playwright") is None:
        lacking.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        lacking.append(f"Chromium at {CHROMIUM}")
    if not AXE.exists():
        lacking.append(
            f"axe-core at {AXE.relative_to(Path.cwd()) if AXE.is_relative_to(Path.cwd()) else AXE}"
        )
    return ", ".join(lacking) or None


_SKIPPED: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def set_aside(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a browser, the browser tests are set aside and said so in one line."""
    needing = [i for i in items if "browser" in getattr(i, "fixturenames", ())]
    if not needing or in_ci():
        return
    why = missing()
    if why is None:
        return
    _SKIPPED.append(f"browser tests skipped: no {why}; to run them: {HOW} ({len(needing)} tests)")
    config.hook.pytest_deselected(items=needing)
    items[:] = [i for i in items if i not in needing]


def summary(terminalreporter: Any) -> None:
    for line in _SKIPPED:
        terminalreporter.write_line(line)
