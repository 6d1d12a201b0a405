"""Debian's chromium driven by Playwright for Python (Playwright's own browser download
cannot run here), and where the tests leave their screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = "/usr/bin/chromium"
# Headless as root in a sandbox with no network but loopback.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = (1280, 390)


def executable() -> str:
    return os.environ.get("LEDGER_CHROMIUM", CHROMIUM)


def cannot_start(reason: str) -> NoReturn:
    # In CI a browser that cannot start must be loud: skipped tests look like a green run.
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright, or the test fails (with `CI=true`) or skips
    (elsewhere) saying why."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        cannot_start(f"Playwright for Python is not installed: {exc}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable(), args=LAUNCH_ARGS)
        except Exception as exc:
            cannot_start(f"chromium could not start ({executable()}): {str(exc).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str) -> list[Path]:
    """Full-page screenshots of the page at each width; each width must not overflow."""
    # The pages show (made-up) personal data: the folder is the owner's alone, as var/ is.
    SCREENSHOTS.mkdir(mode=0o700, parents=True, exist_ok=True)
    SCREENSHOTS.chmod(0o700)
    taken = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        assert overflow <= 0, f"{name} overflows {width} px by {overflow} px"
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        path.chmod(0o600)
        taken.append(path)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return taken
