"""Fixtures of the browser tests: Chromium through Playwright; screenshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import browser as web_browser

HERE = Path(__file__).parent
SCREENSHOTS = HERE / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    web_browser.set_aside(config, items)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    web_browser.summary(terminalreporter)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    why = web_browser.missing()
    if why is not None:
        message = f"browser tests need {why}: {web_browser.HOW}"
        if web_browser.in_ci():
            pytest.fail(f"cannot run under CI=true: {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(web_browser.CHROMIUM), args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot() -> Callable[[Any, str], None]:
    """Write the page as NAME-desktop.png, NAME-phone.png (whole pages) and NAME-desktop-top.png
    (the first screen) in tests/web/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page: Any, name: str) -> None:
        for width, height, kind in ((1280, 900, "desktop"), (390, 844, "phone")):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{kind}.png"), full_page=True)
            if kind == "desktop":  # what a screen shows first (docs/img/models.png is one)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{kind}-top.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

    return take
