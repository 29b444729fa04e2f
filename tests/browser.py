"""Headless Debian Chromium through Playwright (with its executable path) and axe-core's verdict on a page."""

from __future__ import annotations

import shutil

from tests.support import service_missing

BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        service_missing("chromium not installed (apt-get install chromium)")
    return found


def serious_violations(page) -> list[tuple[str, str, int]]:
    """axe-core's violations of impact serious or critical on the page: (rule, impact, nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
