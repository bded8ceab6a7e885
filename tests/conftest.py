"""Fixtures every tier shares: the real stack (started here when it is not running) and service processes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from shared.settings import REPO_ROOT, get_settings
from shared.stack import Stack, port_open
from tests.support.processes import ServiceProcess

LOGS = REPO_ROOT / ".oms" / "test-logs"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real Kafka broker and PostgreSQL; whatever this fixture starts, it stops again."""
    settings = get_settings()
    already = port_open(settings.kafka_port) and port_open(settings.postgres_port)
    stack = Stack(settings)
    stack.up()
    yield stack
    if not already and not os.environ.get("OMS_KEEP_STACK"):
        stack.down()


@pytest.fixture(scope="session")
async def test_db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """The `oms_test` database, with the shared outbox and inbox tables, for mechanism tests."""
    from shared.db import create_pool, migrate

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
