"""The OMS's own processes in the background: started detached, found again by pid file, stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

from gateway_service.subscribers import load_subscribers
from rules.network import load_network
from runtime import security
from runtime.settings import REPO_ROOT, Settings

SERVICES = ("order_service", "inventory_service", "fulfillment_service", "shipping_service", "notification_service",
            "gateway_service",
            "simulators")


def run_dir(settings: Settings) -> Path:
    path = settings.home / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir(settings: Settings) -> Path:
    path = settings.home / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def instance_names(instances: int) -> list[str]:
    """`order_service`, and `order_service-2`... for further instances (the simulators run once)."""
    return [m if n == 1 else f"{m}-{n}" for n in range(1, instances + 1) for m in SERVICES
            if n == 1 or m != "simulators"]


def module_of(name: str) -> str:
    return name.split("-")[0]


def running(settings: Settings, module: str) -> int | None:
    pid_file = run_dir(settings) / f"{module}.pid"
    try:
        pid = int(pid_file.read_text())
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and module_of(module) in " ".join(proc.cmdline()):
            return pid
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        pass
    return None


def own_environment(module: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What one OMS process is launched with besides the environment: `OMS_CREDENTIALS_FILE`, a file of its own with
    its logins and secrets only (`runtime.security.process_credentials`), so that no process but the stack's setup
    holds the admin's, the database superuser's or a migration role's password."""
    if module_of(module) not in SERVICES:
        return {}  # a tool of the tests' (a relay of the test database): the stack's credentials, as any tool
    merged = {**os.environ, **(env or {})}
    settings = Settings(**{k.removeprefix("OMS_").lower(): v for k, v in merged.items()  # type: ignore[arg-type]
                           if k.startswith("OMS_") and k.removeprefix("OMS_").lower() in Settings.model_fields})
    if settings.kafka_sasl_username or not security.credentials_file(settings).exists():
        return {}  # a managed cluster's credentials, given by the environment
    subscribers = [s.id for s in load_subscribers(settings.webhooks_file)] if module == "gateway_service" else []
    path = security.process_credentials(settings, load_network(settings.network_file), module, subscribers)
    return {"OMS_CREDENTIALS_FILE": str(path)}


def start_all(settings: Settings, env: dict[str, str] | None = None, instances: int = 1) -> list[str]:
    """Starts every service (`instances` of each) and the simulators that are not running yet; returns those."""
    started = []
    for module in instance_names(instances):
        if running(settings, module):
            continue
        log_file = log_dir(settings) / f"{module}.log"
        if log_file.exists():
            log_file.replace(log_file.with_suffix(".log.1"))
        with log_file.open("ab") as log:
            own = own_environment(module_of(module), env)
            proc = subprocess.Popen([sys.executable, "-m", module_of(module)], cwd=REPO_ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {}), **own}, start_new_session=True)
        (run_dir(settings) / f"{module}.pid").write_text(str(proc.pid))
        started.append(module)
    return started


def ready(module: str, log: str) -> bool:
    """Whether a process's log says it started (the gateway: and that its HTTP workers listen)."""
    if module_of(module) == "gateway_service" and "gateway.listening" not in log:
        return False
    return any(marker in log for marker in ("service.started", "simulators.started", "simulators.none_played"))


def wait_started(settings: Settings, modules: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    for module in modules:
        log = log_dir(settings) / f"{module}.log"
        while not ready(module, log.read_text(errors="replace")):
            if running(settings, module) is None:
                raise RuntimeError(f"{module} exited; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{module} did not start within {timeout:.0f}s; see {log}")
            time.sleep(0.2)


def stop_all(settings: Settings, modules: tuple[str, ...] | list[str] | None = None) -> list[str]:
    stopped = []
    for module in modules if modules is not None else sorted(p.stem for p in run_dir(settings).glob("*.pid")):
        pid = running(settings, module)
        if pid is None:
            continue
        os.killpg(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout=30)
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
        (run_dir(settings) / f"{module}.pid").unlink(missing_ok=True)
        stopped.append(module)
    return stopped
