"""The whole OMS as real processes (five services and the partner simulators) on the real broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest

from oms_cli import demo, workload
from oms_cli.watch import OrderWatch
from shared.settings import get_settings
from tests.conftest import LOGS
from tests.support.processes import ServiceProcess

MODULES = ("order_service", "inventory_service", "fulfillment_service", "shipping_service", "notification_service",
           "simulators")


@dataclass
class RunningOms:
    processes: dict[str, ServiceProcess]
    notify_file: Path
    run: str
    inventory: asyncpg.Pool
    orders_db: asyncpg.Pool

    def sent_notifications(self) -> list[dict]:
        if not self.notify_file.exists():
            return []
        return [orjson.loads(line) for line in self.notify_file.read_bytes().splitlines() if line]

    async def seed(self, orders: int) -> None:
        await demo.seed_stock(get_settings(), self.run, orders)

    async def submit(self, orders: list[dict]) -> None:
        await demo.send_all(get_settings(), [
            ("oms.orders.inbound.v1", f"{o['channel']}:{o['external_id']}", orjson.dumps(o)) for o in orders])

    async def watch(self) -> OrderWatch:
        watch = OrderWatch(get_settings().kafka_bootstrap, self.run)
        await watch.start()
        return watch


def start_oms(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, ServiceProcess]:
    folder = LOGS / request.node.name
    for old in folder.glob("*.log"):
        old.unlink()
    procs = {m: ServiceProcess(m, [m], folder, env).start() for m in MODULES}
    for proc in procs.values():
        proc.wait_for_log("started", timeout=120)
    return procs


@pytest.fixture
def oms_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """What the processes are started with; a test may add to it before asking for `oms`."""
    return {"OMS_SIM_DELAY_MS": "0", "OMS_SIM_FAILURE_RATE": "0",
            "OMS_NOTIFY_FILE": str(LOGS / request.node.name / "notifications.jsonl")}


@pytest.fixture
async def oms(request: pytest.FixtureRequest, stack, oms_env: dict[str, str]) -> AsyncIterator[RunningOms]:
    notify_file = Path(oms_env["OMS_NOTIFY_FILE"])
    notify_file.unlink(missing_ok=True)
    procs = start_oms(request, oms_env)
    settings = get_settings()
    inventory = await asyncpg.create_pool(settings.database_for("inventory"), min_size=1, max_size=2)
    orders_db = await asyncpg.create_pool(settings.database_for("order"), min_size=1, max_size=2)
    try:
        yield RunningOms(procs, notify_file, workload.new_run_id(), inventory, orders_db)
    finally:
        for proc in procs.values():
            proc.stop()
        await inventory.close()
        await orders_db.close()


@pytest.fixture
def mix() -> Iterator[workload.Mix]:
    yield workload.Mix(split=0.1, express=0.2)
