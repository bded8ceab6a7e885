"""A real headless Chromium (Debian's package) for pages the OMS serves: the DOM after load, and a screenshot."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

PHONE = "390,1200"  # a phone's width, tall enough for the whole page


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise AssertionError("Chromium is missing: apt-get install chromium (.ci/run installs it)")
    return found


async def render(url: str, screenshot: Path | None = None, timeout: float = 90, budget_ms: int = 0,
                 window: str = PHONE) -> str:
    """The page's DOM after it loaded, as a phone sees it; with `screenshot`, a PNG of it too. `budget_ms`: time
    the page's scripts are given to draw before it is read (virtual time: no real wait)."""
    def run(*args: str) -> str:
        with tempfile.TemporaryDirectory() as profile:
            done = subprocess.run(
                [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", f"--user-data-dir={profile}", f"--window-size={window}", "--hide-scrollbars",
                 *([f"--virtual-time-budget={budget_ms}"] if budget_ms else []), *args, url],
                capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout
    dom = await asyncio.to_thread(run, "--dump-dom")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(run, f"--screenshot={screenshot}")
    return dom
