"""The web client in a real browser: Debian's Chromium driven by Playwright, against the
whole stack that `make run` starts (one stack for the session, one browser for the module).

Every page a test visits is checked the same way by `Pages.check`: axe-core finds no
serious or critical violation, the page fits a 360 px wide phone without sideways
scrolling, nothing broke the Content-Security-Policy, and screenshots at desktop and
phone width go to var/screenshots/ (HAVEN_SCREENSHOTS_DIR=docs/screenshots to refresh
the committed ones).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import axe_playwright_python.sync_playwright as axe_sync
import playwright.sync_api as playwright_sync
import pytest

# A busy CI machine runs every tier at once; waiting longer costs nothing when all is well.
playwright_sync.expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("HAVEN_CHROMIUM", "/usr/bin/chromium")
# Written to var/screenshots (not in git) so that a test run leaves the tree clean;
# `HAVEN_SCREENSHOTS_DIR=docs/screenshots make test-e2e` refreshes the committed ones.
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / os.environ.get("HAVEN_SCREENSHOTS_DIR", "var/screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
# What axe-core calls a failure here: WCAG 2.2 AA rules (and best practice) at these impacts.
BLOCKING_IMPACTS = {"serious", "critical"}
# The innermost elements that stick out past the right edge, to say what to fix.
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
    .slice(0, 5).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)"""
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if not path:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Pages:
    """Checks and screenshots for each page, shared by a module's tests."""

    base_url: str
    axe: object = field(default_factory=lambda: axe_sync.Axe())
    csp_violations: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def new_context(self, browser):  # type: ignore[no-untyped-def]
        context = browser.new_context(base_url=self.base_url, viewport=DESKTOP, locale="en-GB")
        context.set_default_timeout(15_000)
        return context

    def watch(self, page) -> None:  # type: ignore[no-untyped-def]
        """Collect every Content-Security-Policy complaint the browser makes on this page."""

        def on_console(message) -> None:  # type: ignore[no-untyped-def]
            if (
                "Content Security Policy" in message.text
                or "Content-Security-Policy" in message.text
            ):
                self.csp_violations.append(message.text)

        page.on("console", on_console)
        page.on("request", lambda request: self.requests.append((request.method, request.url)))
        page.on("pageerror", lambda error: self.script_errors.append(f"{page.url}: {error}"))

    def check(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        """axe, phone width, CSP; then screenshots at both widths."""
        page.wait_for_load_state("networkidle")
        results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]
        assert not blocking, f"axe on {name}:\n" + "\n".join(blocking)
        assert not self.csp_violations, self.csp_violations
        assert not self.script_errors, self.script_errors
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                wide = page.evaluate(WIDER_THAN_SCREEN)
                raise AssertionError(f"{name} scrolls sideways by {overflow}px at 360px: {wide}")
            results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
            blocking = [
                f"{v['id']} ({v['impact']})"
                for v in results.response["violations"]
                if v["impact"] in BLOCKING_IMPACTS
            ]
            assert not blocking, f"axe on {name} at 360px: {blocking}"
            page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
        finally:
            page.set_viewport_size(DESKTOP)
        self.checked.append(name)


@pytest.fixture(scope="module")
def pages(running_stack) -> Pages:  # type: ignore[no-untyped-def]
    return Pages(running_stack.base_url)
