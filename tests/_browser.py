"""Debian's Chromium under Playwright for the browser tests: launch flags, and a page that fails
its test on any console error or uncaught exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Messages the browser logs as errors that say nothing about our pages: none so far. Add a
# pattern here only with the reason it is not ours.
IGNORED_CONSOLE: tuple[str, ...] = ()


def require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


class ConsoleErrors(list):
    """Console errors and page exceptions seen by a page, as text."""

    def attach(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self._add(f"console.error: {msg.text} ({msg.location.get('url', '')})"))
        page.on("pageerror", lambda exc: self._add(f"uncaught: {exc}"))

    def _add(self, text: str) -> None:
        if not any(pattern in text for pattern in IGNORED_CONSOLE):
            self.append(text)


def lab_run_all(page) -> None:
    """In JupyterLab, with a notebook open: wait for its kernel, then Run > Run All Cells, and check
    the cells were sent (Run All before the kernel's session is connected runs nothing)."""
    from playwright.sync_api import expect

    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
    page.get_by_role("button", name="Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)  # the status bar names a connected kernel
    page.locator(".jp-NotebookPanel .jp-Notebook").click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).not_to_have_text("[ ]:", timeout=60_000)
