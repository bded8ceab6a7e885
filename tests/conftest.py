"""Fixtures every tier shares: the real stack (started here when it is not running) and service processes."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.stack import Stack, compose_environment, port_open, wait_until
from runtime.settings import REPO_ROOT, Settings, get_settings
from tests.support.kafka import TEST_STARTED_MS
from tests.support.processes import KeptOms, ServiceProcess

LOGS = REPO_ROOT / ".oms" / "test-logs"
TIERS = ("unit", "contract", "component", "e2e", "chaos")  # the order they run in: the fastest first, chaos last


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tiers in `TIERS` order (a chaos test, which stops shared servers, runs after every other); within the e2e tier
    the tests with the same OMS settings side by side, so they share one running OMS (`tests/e2e/conftest.py`)."""
    def tier(item: pytest.Item) -> int:
        marked = [n for n, name in enumerate(TIERS) if item.get_closest_marker(name) is not None]
        return max(marked) if marked else 0

    def settings(item: pytest.Item) -> str:
        marker = item.get_closest_marker("oms_env")
        return repr(sorted(marker.kwargs.items())) if marker and tier(item) == TIERS.index("e2e") else ""
    items.sort(key=lambda item: (tier(item), item.get_closest_marker("after_its_tier") is not None, settings(item)))
    _TIER_OF.update({item.nodeid: _tier_name(item) for item in items})
    e2e = REPO_ROOT / "tests" / "e2e"
    ran = {Path(str(i.path)) for i in items}
    whole = set(e2e.glob("test_*.py")) <= ran
    if not whole:  # a check of the whole tier means nothing on a part of it
        dropped = [i for i in items if i.get_closest_marker("after_its_tier")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [i for i in items if i not in dropped]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real Kafka broker and PostgreSQL; whatever this fixture starts, it stops again. Where a Docker engine
    answers, testcontainers starts them from `docker-compose.yml` (the same secured broker and database); otherwise
    the native stack."""
    settings = get_settings()
    already = port_open(settings.kafka_port) and port_open(settings.postgres_port)
    stack = Stack(settings)
    if not already and stack.compose:
        with containers(settings):
            stack.provision()
            yield stack
        return
    stack.up()
    yield stack
    if not already and not os.environ.get("OMS_KEEP_STACK"):
        stack.down()


@contextlib.contextmanager
def containers(settings: Settings) -> Iterator[None]:
    """Kafka and PostgreSQL as containers, through testcontainers' compose module, with what the compose file is
    given by `make infra-up` (the broker's files under .oms/compose, the database password in the environment)."""
    from testcontainers.compose import DockerCompose

    os.environ.update(compose_environment(settings))
    compose = DockerCompose(REPO_ROOT, services=["kafka", "postgres"], wait=True)
    compose.start()
    try:
        wait_until(lambda: port_open(settings.kafka_port) and port_open(settings.postgres_port),
                   "the containers' ports", timeout=120)
        yield
    finally:
        if not os.environ.get("OMS_KEEP_STACK"):
            compose.stop()


_BY_TIER: dict[str, list[float]] = {}  # tier: [tests, seconds (setup, call and teardown)]
_TIER_OF: dict[str, str] = {}


def _tier_name(item: pytest.Item) -> str:
    return next((name for name in reversed(TIERS) if item.get_closest_marker(name) is not None), "unit")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = _TIER_OF.get(report.nodeid)
    if tier is not None:
        seen = _BY_TIER.setdefault(tier, [0, 0.0])
        seen[0] += report.when == "call"
        seen[1] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The time of each tier (what `make test` reports beside the slowest tests)."""
    if _BY_TIER:
        terminalreporter.write_sep("=", "time by tier")
        for tier in TIERS:
            if tier in _BY_TIER:
                tests, seconds = _BY_TIER[tier]
                terminalreporter.write_line(f"{tier:>9}: {int(tests):4d} tests {seconds:7.1f} s")


@pytest.fixture(autouse=True)
def test_started() -> None:
    """What the test reads from topics starts here (a second of slack for the clocks of the writers' batches)."""
    TEST_STARTED_MS[0] = int(time.time() * 1000) - 1000


@pytest.fixture(autouse=True)
def healthy_stack(request: pytest.FixtureRequest) -> None:
    """Before each test on the real servers: both answer, or are started again (a test that stopped one and failed
    before restarting it costs only itself)."""
    if "stack" not in request.fixturenames:
        return
    stack: Stack = request.getfixturevalue("stack")
    settings = get_settings()
    if not (port_open(settings.kafka_port) and port_open(settings.postgres_port)):
        stack.up()


@pytest.fixture(scope="session")
def kept_oms() -> Iterator[KeptOms]:
    """The one OMS kept running between tests (see `KeptOms`): one for the whole session, whatever the tier."""
    kept = KeptOms()
    yield kept
    kept.close()


@pytest.fixture(autouse=True)
def chaos_alone(request: pytest.FixtureRequest) -> None:
    """A chaos test runs with no OMS kept from an earlier test: processes of another run would share its databases
    (and its notifications to send, its deadlines to watch)."""
    if request.node.get_closest_marker("chaos") is not None:
        request.getfixturevalue("kept_oms").close()


@pytest.fixture(scope="session")
async def test_db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """The `oms_test` database, with the shared outbox and inbox tables, for mechanism tests."""
    from runtime.db import create_pool, migrate

    pool = await create_pool(get_settings().database_for("test"), max_size=8)
    await migrate(pool)
    yield pool
    await pool.close()


@pytest.fixture
def processes(request: pytest.FixtureRequest, stack: Stack) -> Iterator[list[ServiceProcess]]:
    """Processes a test starts; all are stopped afterwards, their logs kept under .oms/test-logs."""
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.stop()


def service_process(processes: list[ServiceProcess], request: pytest.FixtureRequest, name: str,
                    *args: str, env: dict[str, str] | None = None) -> ServiceProcess:
    proc = ServiceProcess(name, list(args), LOGS / request.node.name, env or {})
    if proc.log_file.exists():
        proc.log_file.unlink()
    processes.append(proc)
    return proc.start()
