"""Database and broker incidents mid-flow, as the fault table (runtime/faults.py) classifies them: backends
terminated mid-batch, the database read-only for a while (a failover), a topic's ACL removed and restored. Nothing
good is dead-lettered, nothing is lost or doubled (the chaos checker), and whatever a shared server was switched to
is undone in `finally`."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import AsyncIterator
from functools import partial

import asyncpg
import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import DeleteAclsRequest

from contracts import topics
from devstack import access
from devstack.access import Acl
from oms_cli import workload
from runtime import security
from runtime.security import ADMIN, client_options
from runtime.settings import get_settings
from tests.chaos.test_crashes import every_invariant_holds
from tests.support.cli import oms_cli
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.chaos

ORDERS = 100
# every connection of the services' own roles (not the test's, not the operators'); and whether it may have been the
# notification dispatcher's mid-round (sent, not yet marked: that round is sent again, as after a kill)
SERVICE_BACKENDS = """SELECT pg_terminate_backend(pid) AS gone,
                             datname = 'oms_notification' AND state <> 'idle' AND query ILIKE '%notifications%' AS cut
                      FROM pg_stat_activity
                      WHERE datname LIKE 'oms\\_%' AND usename <> current_user AND usename NOT LIKE '%operator%'"""


@contextlib.asynccontextmanager
async def superuser() -> AsyncIterator[asyncpg.Connection]:
    settings = get_settings()
    conn = await asyncpg.connect(settings.dsn("postgres", security.DATABASE_SUPERUSER))
    try:
        yield conn
    finally:
        await conn.close()


async def run_through(oms, incident, count: int = ORDERS) -> tuple[list[dict], object]:
    """`count` orders sent while `incident(watch)` runs; every order delivered or held as expected afterwards."""
    await oms.seed(count)
    orders = workload.orders(oms.run, count, workload.Mix(split=0.1, express=0.2))
    watch = await oms.watch()
    try:
        await oms.submit(orders)
        await incident(watch)

        async def ended() -> dict[str, int]:
            return dict(watch.statuses())
        await eventually(ended, lambda s: sum(s.get(k, 0) for k in ("delivered", "on_hold")) == count,
                         "every order delivered or on hold after the incident", timeout=300, interval=0.5)
    finally:
        await watch.stop()
    return orders, watch


async def nothing_dead_lettered(oms) -> None:
    """No dead letter and no parked message of this run anywhere (every message of the run names its run id)."""
    network = oms.network
    run = oms.run.encode()
    dead = []
    for name, _ in access.concrete(network):
        if name.endswith(".dlq"):
            dead += [f"{name}: {r.value[:120]!r}" for r in await read_topic(name, timeout=30) if run in (r.value or b"")]
    assert dead == []
    for service in security.SERVICES:
        conn = await asyncpg.connect(get_settings().database_for(service))
        try:
            parked = await conn.fetch("SELECT topic, reason FROM parked_messages WHERE position($1 in value) > 0 "
                                      "AND replayed_at IS NULL", run)
        finally:
            await conn.close()
        assert [dict(p) for p in parked] == [], service


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="20", OMS_NETWORK_FILE="config/network.toml")
async def test_backends_terminated_again_and_again_mid_batch(oms):
    """Bursts of `pg_terminate_backend` on every service connection (57P01 in the middle of units of work, the
    relays' leases lost), each burst longer than a message's three tries took before the fault table."""
    terminated, rounds_cut = 0, 0

    async def incident(watch) -> None:
        async with superuser() as admin:
            async def terminate() -> int:  # every service connection there is now; how many so far
                nonlocal terminated, rounds_cut
                gone = await admin.fetch(SERVICE_BACKENDS)
                terminated += len(gone)
                rounds_cut += sum(1 for row in gone if row["cut"])
                return terminated

            for burst in range(4):
                await eventually(lambda: _through(watch), partial(operator.le, 20 * (burst + 1)),
                                 f"{20 * (burst + 1)} orders through before burst {burst}", timeout=240)
                # a burst: until 30 more connections were cut, which outlasts a message's three tries of 0.6 s
                await eventually(terminate, partial(operator.le, 30 * (burst + 1)),
                                 f"30 service connections terminated in burst {burst}", timeout=60, interval=0.05)

    orders, watch = await run_through(oms, incident)
    assert terminated > 20, terminated
    await nothing_dead_lettered(oms)
    await every_invariant_holds(oms, orders, watch, ORDERS, dispatcher_kills=rounds_cut)


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="20", OMS_NETWORK_FILE="config/network.toml")
async def test_the_database_read_only_for_a_while_and_back(oms):
    """The server goes read-only (as a standby after a failover does) twice, for several seconds: every write fails
    with 25006, which is waited out; afterwards the flow goes on."""
    async def incident(watch) -> None:
        async with superuser() as admin:
            try:
                for turn in range(2):
                    await eventually(lambda: _through(watch), partial(operator.le, 40 * (turn + 1)),
                                     f"{40 * (turn + 1)} orders through before read-only {turn}", timeout=240)
                    refused_before = read_only_refusals(oms)
                    await admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
                    await admin.execute("SELECT pg_reload_conf()")
                    await eventually(lambda: _now(read_only_refusals(oms)), partial(operator.le, refused_before + 5),
                                     f"the services refused writes by the read-only server (turn {turn})", timeout=60)
                    await admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
                    await admin.execute("SELECT pg_reload_conf()")
            finally:
                await admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
                await admin.execute("SELECT pg_reload_conf()")

    orders, watch = await run_through(oms, incident)
    await nothing_dead_lettered(oms)
    await every_invariant_holds(oms, orders, watch, ORDERS, dispatcher_kills=0)


def read_only_refusals(oms) -> int:
    """How often the services have been refused a write by a read-only server (25006) in this test's logs."""
    return sum(p.log_text().count("ReadOnlySQLTransaction") for p in oms.processes.values())


async def _now(value: int) -> int:
    return value


async def _through(watch) -> int:
    return sum(1 for e in watch.latest().values() if e["status"] in ("delivered", "on_hold"))


async def acl_count() -> int:
    client = AIOKafkaClient(**client_options(who=ADMIN))
    await client.bootstrap()
    try:
        return await access._acl_count(client, client.get_random_node())
    finally:
        await client.close()


async def delete_acls(acls: list[Acl]) -> None:
    """Removes `acls` (as the stack's admin) and returns once the broker has dropped them."""
    client = AIOKafkaClient(**client_options(who=ADMIN))
    await client.bootstrap()
    try:
        node = client.get_random_node()
        before = await access._acl_count(client, node)
        for acl in acls:  # aiokafka's request carries one filter
            await client.send(node, DeleteAclsRequest(
                access._RESOURCES[acl.resource], acl.name, 4 if acl.prefixed else 3, f"User:{acl.principal}", "*",
                access._OPERATIONS[acl.operation], 3))

        async def held() -> int:
            return await access._acl_count(client, node)
        await eventually(held, lambda n: n <= before - len(acls), "the broker dropped the ACLs", timeout=30)
    finally:
        await client.close()


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="20", OMS_NETWORK_FILE="config/network.toml")
async def test_a_topics_acl_removed_parks_its_rows_and_the_rest_flows_until_restored_and_replayed(oms):
    """Fulfillment loses its right to write the warehouses' request topics: only those rows are parked (orders
    still reach `released`); once the ACL is restored an operator replays the parked rows and every order is
    delivered."""
    settings = get_settings()
    fulfillment = security.principal("service", "fulfillment")
    taken = [Acl(fulfillment, "Write", "Topic", topics.WAREHOUSE_REQUESTS.for_partner(i)) for i in oms.network.sites]
    count = 60
    await oms.seed(count)
    orders = workload.orders(oms.run, count, workload.Mix(split=0, express=0.2))  # one request each
    watch = await oms.watch()
    conn = await asyncpg.connect(settings.database_for("fulfillment"))
    every = await acl_count()
    try:
        await delete_acls(taken)
        try:
            async def refused() -> int:  # the relay's producer is told at its next send
                return int(await conn.fetchval("SELECT count(*) FROM parked_messages WHERE replayed_at IS NULL AND "
                                               "position($1 in value) > 0", oms.run.encode()))
            await oms.submit(orders)
            await eventually(lambda: _released(watch), partial(operator.eq, count),
                             "every order released while its requests are refused", timeout=120)
            parked = await eventually(refused, partial(operator.eq, count), "each fulfillment request parked",
                                      timeout=60)
        finally:
            await access.create_acls(client_options(who=ADMIN), taken)
            await eventually(acl_count, lambda n: n >= every, "the ACLs restored")
        reasons = await conn.fetch("SELECT DISTINCT reason FROM parked_messages WHERE position($1 in value) > 0",
                                   oms.run.encode())
        assert all("TopicAuthorizationFailed" in r["reason"] for r in reasons), reasons
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM parked_messages WHERE position($1 in value) > 0 "
                                                 "AND replayed_at IS NULL", oms.run.encode())]
        assert len(ids) == parked
        said = await oms_cli("dlq", "replay", "--service", "fulfillment", *(f"--parked={i}" for i in ids))
        assert f"replayed {parked} parked message(s) of fulfillment" in said

        async def ended() -> int:
            return watch.count("delivered")
        await eventually(ended, partial(operator.eq, count), "every order delivered after the replay", timeout=180)
    finally:
        await watch.stop()
        await conn.close()
    await every_invariant_holds(oms, orders, watch, count, dispatcher_kills=0)


async def _released(watch) -> int:
    return sum(1 for e in watch.latest().values() if e["status"] == "released")
