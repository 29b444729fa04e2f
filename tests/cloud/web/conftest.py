"""Fixtures for the pages: the real app served over HTTP (uvicorn in a thread) and headless Debian Chromium
driven by Playwright, with axe-core for accessibility."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from cloud.app import create_app
from dorpskluis.broker import free_port
from tests.cloud.conftest import ADMIN, cloud_settings, forget_session
from tests.support import service_missing, wait_until

BLOCKING_IMPACTS = ("serious", "critical")


@dataclass
class Live:
    """The cloud served on a real port: `http` is an admin client, `app` the running application."""

    url: str
    app: object
    http: httpx.Client


@pytest.fixture
def live(broker, sqlite_url, tmp_path) -> Iterator[Live]:
    settings = cloud_settings(sqlite_url, broker, tmp_path / "data")
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-cloud", daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the live cloud to serve")
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as http:
        yield Live(url, app, http)
    server.should_exit = True
    thread.join(15)
    forget_session(broker, settings.mqtt_client_id)


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        service_missing("chromium not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")  # a phone
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def desk(browser):
    """A page on the foundation's desktop screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    opened = context.new_page()
    yield opened
    context.close()


def serious_violations(page) -> list[tuple[str, str, int]]:
    """axe-core's violations of impact serious or critical on the page: (rule, impact, nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]


@pytest.fixture
def screenshot(tmp_path):
    """Take a full-page picture: into $DK_SCREENSHOTS when set (`make screenshots` refreshes docs/screenshots),
    else into the test's own folder, so a test run never changes the repository."""
    folder = Path(os.environ["DK_SCREENSHOTS"]) if os.environ.get("DK_SCREENSHOTS") else tmp_path

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000  # a picture, not an empty canvas
        return path

    return take
