"""The whole OMS as real processes (five services and the partner simulators) on the real broker and database."""

from __future__ import annotations

import importlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from contracts import topics
from oms_cli import demo, workload
from oms_cli.watch import OrderWatch
from rules.network import Network, load_network
from runtime import kafka_tools, security, signing
from runtime.security import OPERATOR, client_options
from runtime.settings import get_settings
from tests.conftest import LOGS
from tests.support.kafka import SESSION_STARTED_MS
from tests.support.memory import deps_of
from tests.support.poll import eventually
from tests.support.processes import Kept, KeptOms, ServiceProcess
from tests.support.servers import RecordingWebhook

FAST_NETWORK = Path(__file__).parent / "network-fast.toml"
GATEWAY_URL = "http://127.0.0.1:18080"  # the tests' own port: a gateway of `make up` may hold 8080
MODULES = ("order_service", "inventory_service", "fulfillment_service", "shipping_service", "notification_service",
           "simulators")


def derived_network(name: str, location: str | None = None, tables: str = "", **fields: object) -> Path:
    """The fast network with `fields` set on one location and TOML `tables` added, written where the services can
    read it."""
    text = FAST_NETWORK.read_text()
    if location is not None:
        marker = f'id = "{location}"\n'
        assert marker in text, location
        extra = "".join(f"{key} = {orjson.dumps(value).decode()}\n" for key, value in fields.items())
        text = text.replace(marker, marker + extra)
    path = LOGS.parent / "networks" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + tables)
    return path


def silent_network(seconds: int = 4) -> Path:
    """The fast network with every partner's deadline `seconds`: for the tests whose subject is a partner's silence."""
    text = FAST_NETWORK.read_text().replace("accept_within_s = 60", f"accept_within_s = {seconds}")
    path = LOGS.parent / "networks" / f"silent-{seconds}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("answer_within_s = 60", f"answer_within_s = {seconds}"))
    return path


SILENT = silent_network()


@dataclass
class RunningOms:
    processes: dict[str, ServiceProcess]
    webhook: RecordingWebhook
    run: str
    inventory: asyncpg.Pool
    orders_db: asyncpg.Pool
    calls_before: int = 0  # what the webhook recorded for earlier tests of the same processes
    env: dict[str, str] = field(default_factory=dict)  # what another process of this run is started with

    @property
    def network(self) -> Network:
        return load_network(FAST_NETWORK)

    def sent_notifications(self) -> list[dict]:
        """Every call the notification sender made, in order: a copy sent twice shows twice."""
        return list(self.webhook.calls[self.calls_before:])

    async def seed(self, orders: int) -> None:
        await demo.seed_stock(get_settings(), self.run, orders)

    async def submit(self, orders: list[dict]) -> None:
        await demo.send_all(get_settings(), [
            ("oms.orders.inbound.v1", f"{o['channel']}:{o['external_id']}", orjson.dumps(o)) for o in orders])

    async def stock(self, counts: dict[str, dict[str, int]]) -> None:
        """Counts for this run's SKUs (`{name: {location: on_hand}}`), waited for until inventory has them."""
        messages = [{"type": "stock.counted", "id": str(uuid.uuid4()), "sku": f"{self.run}-{name}",
                     "location_id": loc, "on_hand": qty} for name, at in counts.items() for loc, qty in at.items()]
        await demo.send_all(get_settings(), [
            ("oms.inventory.adjustments.v1", str(m["sku"]), orjson.dumps(m)) for m in messages])

        async def known() -> int:
            return int(await self.inventory.fetchval("SELECT count(*) FROM stock WHERE sku LIKE $1", f"{self.run}-%"))

        await eventually(known, lambda n: n >= len(messages), "stock counted")

    def order(self, number: int, skus: dict[str, int], **overrides: object) -> dict:
        """One order for this run's SKUs, to a German address (nearest 3pl-berlin, then store-munich, dc-rotterdam)."""
        body = workload.order(self.run, number, random.Random(number), workload.Mix(split=0))
        body["lines"] = [{"sku": f"{self.run}-{name}", "quantity": qty, "unit_price": "10.00"}
                         for name, qty in skus.items()]
        body["shipping_address"] = {**body["shipping_address"], "city": "Munich", "postal_code": "80331",
                                    "country": "DE"}
        body["shipping_speed"] = "standard"
        return {**body, **overrides}

    async def send(self, *messages: dict) -> None:
        await demo.send_all(get_settings(), [
            ("oms.orders.inbound.v1", f"{m['channel']}:{m['external_id']}", orjson.dumps(m)) for m in messages])

    def request(self, kind: str, order: dict, **fields: object) -> dict:
        """An order.cancel_requested / order.hold_released for an order, as a channel or an operator sends it."""
        return {"type": kind, "id": str(uuid.uuid4()), "channel": order["channel"],
                "external_id": order["external_id"], **fields}

    async def adjust(self, message: dict) -> None:
        body = {"id": str(uuid.uuid4()), **message}
        await demo.send_all(get_settings(), [("oms.inventory.adjustments.v1", str(body["sku"]), orjson.dumps(body))])

    async def watch(self) -> OrderWatch:
        watch = OrderWatch(client_options(who=OPERATOR), self.run)
        await watch.start()
        return watch


async def groups_of_a_run(env: dict[str, str], services: tuple[str, ...] = security.SERVICES,
                          partners: bool = True) -> str:
    """A consumer group suffix for a new run of the OMS (every service's and simulator's groups), each group set to
    start at its topics' ends: the run does not inherit what an earlier one left unread. Except where a service
    learns what it looks up later (the notification service's contacts, the gateway's channel of each order, from
    the orders as submitted): those read the orders submitted since the session started, so an order an earlier
    test left waiting, whose deadline passes now, finds its contact."""
    suffix = f".run-{uuid.uuid4().hex[:8]}"
    network = load_network(Path(env.get("OMS_NETWORK_FILE", FAST_NETWORK)))
    groups: dict[str, tuple[tuple[str, ...], int | None]] = {}
    for service in services:
        deps = deps_of(service, network=network)  # only to name its groups
        for sub in importlib.import_module(f"{service}_service.app").subscriptions(deps):
            learns = service in ("notification", "gateway") and topics.ORDERS_INBOUND.name in sub.names
            groups[f"{service}.{sub.group}{suffix}"] = (sub.names, SESSION_STARTED_MS if learns else None)
    for kind, ident in security.played_partners(env.get("OMS_SIMULATE_PARTNERS", "all"), network) if partners else ():
        groups[f"{security.principal(kind, ident)}.simulator{suffix}"] = ((security.requests_topic(kind, ident),), None)
    await kafka_tools.start_groups(client_options(who=security.ADMIN), groups)
    return suffix


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
    """What the processes are started with; `@pytest.mark.oms_env(NAME=value)` on a test adds to it."""
    env = {"OMS_SIM_DELAY_MS": "0", "OMS_SIM_FAILURE_RATE": "0", "OMS_NETWORK_FILE": str(FAST_NETWORK),
           "OMS_GATEWAY_URL": GATEWAY_URL,
           "OMS_CONSUME_SESSION_TIMEOUT_MS": "6000"}  # the least the broker takes: a killed process is replaced soonest
    marker = request.node.get_closest_marker("oms_env")
    return {**env, **(marker.kwargs if marker else {})}


def everyone_but(*partners: str) -> str:
    """OMS_SIMULATE_PARTNERS for a test that plays these partners itself."""
    network = load_network(FAST_NETWORK)
    ids = [loc.id for loc in network.locations] + [c.id for c in network.carriers] + [security.PAYMENTS]
    return ",".join(i for i in ids if i not in partners)


@pytest.fixture
async def oms(request: pytest.FixtureRequest, stack, oms_env: dict[str, str], kept_oms: KeptOms
              ) -> AsyncIterator[RunningOms]:
    kept = kept_oms.take(oms_env)
    if kept is None:
        webhook = RecordingWebhook().__enter__()  # the notifications' sender: it records every call
        suffix = await groups_of_a_run(oms_env)
        procs = start_oms(request, {"OMS_NOTIFY_SENDER": "webhook", "OMS_WEBHOOK_URL": webhook.url,
                                    "OMS_CONSUMER_GROUP_SUFFIX": suffix, **oms_env})
        kept = Kept(dict(oms_env), procs, webhook, {name: p.starts for name, p in procs.items()}, suffix)
    for proc in kept.processes.values():
        proc.mark()  # this test's logs start here
    settings = get_settings()
    inventory = await asyncpg.create_pool(settings.database_for("inventory"), min_size=1, max_size=2)
    orders_db = await asyncpg.create_pool(settings.database_for("order"), min_size=1, max_size=2)
    names = set(kept.processes)
    running = RunningOms(kept.processes, kept.webhook, workload.new_run_id(), inventory, orders_db,
                         len(kept.webhook.calls), {"OMS_CONSUMER_GROUP_SUFFIX": kept.group_suffix})
    try:
        yield running
    finally:
        await inventory.close()
        await orders_db.close()
        if request.node.get_closest_marker("chaos") is None and set(running.processes) == names \
                and kept.intact():
            kept_oms.keep(kept)
        else:
            for proc in running.processes.values():
                proc.stop()
            kept.stop()


@pytest.fixture
def mix() -> Iterator[workload.Mix]:
    yield workload.Mix(split=0.1, express=0.2)


@dataclass
class RunningGateway:
    """The gateway as a real process beside the OMS, and an HTTP client that signs as a channel would."""

    process: ServiceProcess
    client: httpx.AsyncClient

    async def post(self, channel: str, path: str, payload: object, secret: str | None = None) -> httpx.Response:
        raw = orjson.dumps(payload)
        signed = signing.sign(secret or security.channel_secrets(get_settings(), channel)[0], raw)
        return await self.client.post(f"/v1/channels/{channel}{path}", content=raw,
                                      headers={signing.HEADER: signed, "content-type": "application/json"})

    async def order(self, channel: str, external_id: str, token: str | None = None) -> httpx.Response:
        token = token or security.channel_secrets(get_settings(), channel)[1]
        return await self.client.get(f"/v1/channels/{channel}/orders/{external_id}",
                                     headers={"Authorization": f"Bearer {token}"})

    async def view(self, channel: str, external_id: str) -> dict:
        answer = await self.order(channel, external_id)
        return answer.json() if answer.status_code == 200 else {"http": answer.status_code}

    async def until(self, channel: str, external_id: str, status: str, timeout: float = 90) -> dict:
        """The order as the gateway's API shows it, once it shows `status`."""
        return await eventually(partial(self.view, channel, external_id), lambda v: v.get("status") == status,
                                f"{external_id} {status} via the API", timeout=timeout)

    async def reached(self, channel: str, external_id: str, status: str, timeout: float = 90) -> dict:
        """The order as the gateway's API shows it, once its timeline has passed `status` (it may have gone on)."""
        return await eventually(partial(self.view, channel, external_id),
                                lambda v: any(step.get("status") == status for step in v.get("timeline", ())),
                                f"{external_id} past {status} via the API", timeout=timeout)


@pytest.fixture
async def gateway(request: pytest.FixtureRequest, oms: RunningOms, oms_env: dict[str, str]
                  ) -> AsyncIterator[RunningGateway]:
    process = ServiceProcess("gateway_service", ["gateway_service"], LOGS / request.node.name,
                             {**oms_env, **oms.env}).start()
    try:
        await process.logged("service.started", timeout=120)
        async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=10) as client:
            await eventually(lambda: _healthy(client), bool, "the gateway answering", timeout=30)
            yield RunningGateway(process, client)
    finally:
        process.stop()


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False
