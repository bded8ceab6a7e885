"""Services as real OS processes: started, killed with SIGKILL, restarted, their logs kept in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from oms_cli.processes import own_environment
from runtime.settings import REPO_ROOT
from tests.support.poll import eventually
from tests.support.servers import RecordingWebhook


@dataclass
class ServiceProcess:
    name: str
    args: list[str]
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    since: int = 0  # where in its log file the current test's part starts (a process kept between tests)

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> ServiceProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = self.log_file.open("ab")
        own = own_environment(self.args[0], self.env)  # its own credentials file, as `oms up` gives it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.args], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, **self.env, **own}, start_new_session=True)
        log.close()
        return self

    def mark(self) -> None:
        """What it logs from now on is what `log_text` and `logged` see."""
        self.since = self.log_file.stat().st_size if self.log_file.exists() else 0

    def log_text(self) -> str:
        if not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as f:
            f.seek(self.since)
            return f.read().decode(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 60.0, count: int = 1) -> None:
        """Blocks: for plain fixtures. An async test awaits `logged` instead, so its own watchers keep running."""
        deadline = time.monotonic() + timeout
        while not self._logged(needle, count, deadline):
            time.sleep(0.1)

    async def logged(self, needle: str, timeout: float = 60.0, count: int = 1) -> None:
        async def seen() -> bool:  # raises at once if the process has exited
            return self._logged(needle, count, deadline=float("inf"))
        await eventually(seen, bool, f"{self.name} logging {needle!r}", timeout=timeout, interval=0.1)

    def _logged(self, needle: str, count: int, deadline: float) -> bool:
        if self.log_text().count(needle) >= count:
            return True
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{self.name} never logged {needle!r}:\n{self.log_text()[-3000:]}")
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Kept:
    """The OMS processes a test left running, for the next test started with the same settings."""

    env: dict[str, str]
    processes: dict[str, ServiceProcess]
    webhook: RecordingWebhook
    starts: dict[str, int]
    group_suffix: str

    def intact(self) -> bool:
        """Every process still the one started (none killed, restarted or exited)."""
        return all(p.proc is not None and p.proc.poll() is None and p.starts == self.starts[name]
                   for name, p in self.processes.items())

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        self.webhook.__exit__(None, None, None)


class KeptOms:
    """At most one running OMS, kept between tests: starting six processes costs more than most tests do, and the
    tests are ordered so that those with the same settings follow each other (`tests/conftest.py`). A test that
    kills, restarts or stops a process, or a chaos test, leaves nothing to keep."""

    def __init__(self) -> None:
        self.kept: Kept | None = None

    def take(self, env: dict[str, str]) -> Kept | None:
        kept, self.kept = self.kept, None
        if kept is not None and kept.env == env and kept.intact():
            return kept
        if kept is not None:
            kept.stop()
        return None

    def keep(self, kept: Kept) -> None:
        self.kept = kept

    def close(self) -> None:
        if self.kept is not None:
            self.kept.stop()
            self.kept = None
