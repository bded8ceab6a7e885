"""The operators' command line, run as an operator runs it: a process of its own, its output as printed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from runtime.settings import REPO_ROOT


async def oms_cli(*args: str) -> str:
    """`oms <args>`'s output; a failing command fails the test with what it printed."""
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "oms_cli.main", *args], cwd=REPO_ROOT,
                                   capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
