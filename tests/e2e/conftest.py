"""The web UI in headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

One daphne server per module, on its own migrated database with the research corpus loaded, and
the offline model slowed down a little so that streaming can be watched. Screenshots go to
``test-artifacts/`` (gitignored) for people to look at; tests never compare them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import REPO_ROOT, ServerPool, fresh_database, run_manage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Seconds between the offline model's words: slow enough to see a reply grow and to reload in
# the middle of it, fast enough to keep the suite quick.
WORD_DELAY = "0.04"


def manage(database_url: str, *args: str) -> str:
    """Run a management command against the server's database, as an operator would."""
    completed = run_manage(database_url, *args)
    assert completed.returncode == 0, f"{args} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("ui-server")
    with fresh_database(directory) as database_url, ServerPool(directory, database_url) as pool:
        manage(database_url, "load_corpus")
        manage(
            database_url,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            "User.objects.create_user('ada', password='correct-horse-battery')",
        )
        server = pool.start(OFFLINE_MODEL_DELAY=WORD_DELAY)
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser: Any, ui_server: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh browser contexts (separate cookie jars: separate visitors)."""
    contexts: list[Any] = []

    def make(path: str = "/", context: Any = None, ready: bool = True) -> Any:
        if context is None:
            context = browser.new_context(base_url=ui_server.url)
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(path)
        if ready:  # the UI pages' scripts mark the page once they have set it up
            page.wait_for_selector("[data-ready=true]")
        return page

    yield make
    for context in contexts:
        context.close()


def poll(
    check: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.05,
    context: Callable[[], Any] | None = None,
) -> Any:
    """Call ``check`` until it returns something truthy; fail with its last value (and
    ``context()``, e.g. the page's state) at the end."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    details = f"; {context()!r}" if context is not None else ""
    raise AssertionError(f"condition not met within {timeout} s (last value {value!r}){details}")


def page_state(page: Any) -> dict[str, Any]:
    """What a failing UI test should show: the visible conversation and the tab's storage."""
    return {
        "messages": page.locator("#messages").inner_text(),
        "session_storage": page.evaluate("JSON.stringify(sessionStorage)"),
        "busy": page.get_attribute("#chat-app", "data-busy"),
    }


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


AXE = REPO_ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA: labels, names, focus order, contrast, landmarks.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG A/AA violations on the page as it is now (the checker is evaluated
    through the DevTools protocol, which the page's CSP does not govern)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: make js-clients (npm ci in tests/js)")
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map((v) => ({id: v.id, help: v.help, "
        "nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}))",
        AXE_TAGS,
    )
    return list(result)
