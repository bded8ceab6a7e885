"""The cluster profile under fire: three KRaft brokers (every topic on all three, min.insync.replicas 2, no unclean
leader election); the broker leading most of the order topics' partitions is killed with SIGKILL mid-run and
restarted. Nothing is lost, nothing doubled, stock balances, every customer is told once."""

from __future__ import annotations

import asyncio
import json
import operator
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial

import asyncpg
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts import topics
from devstack.stack import KafkaCluster, NativeKafka, create_acls, create_topics
from oms_cli import demo, workload
from oms_cli.watch import OrderWatch
from rules.network import load_network
from runtime import security
from runtime.security import ADMIN, OPERATOR, client_options
from runtime.settings import REPO_ROOT, Settings, get_settings
from tests.chaos.test_crashes import every_invariant_holds
from tests.conftest import LOGS
from tests.e2e.conftest import MODULES, RunningOms
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.servers import RecordingWebhook

pytestmark = pytest.mark.chaos

ORDERS = 120
NETWORK = REPO_ROOT / "config" / "network.toml"
# Ports and data of their own, beside the single broker the other tests use.
CLUSTER = {"OMS_KAFKA_BROKERS": "3", "OMS_KAFKA_BOOTSTRAP": "127.0.0.1:29092", "OMS_KAFKA_CONTROLLER_PORT": "29093",
           "OMS_HOME": str(REPO_ROOT / ".oms" / "cluster"), "OMS_NETWORK_FILE": str(NETWORK)}


def share_database_passwords(main: Settings, cluster: Settings) -> None:
    """The cluster profile has a home of its own (its brokers' data and principals) but uses the main stack's
    PostgreSQL: its services log in with that stack's database passwords."""
    ours, theirs = security.credentials_file(main), security.credentials_file(cluster)
    known = json.loads(theirs.read_text()) if theirs.exists() else {}
    known |= {k: v for k, v in json.loads(ours.read_text()).items() if k.startswith("postgres.")}
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.touch(mode=0o600)
    theirs.write_text(json.dumps(known))


@pytest.fixture(scope="module")
def cluster(stack) -> Iterator[KafkaCluster]:
    settings = Settings(kafka_brokers=3, kafka_bootstrap="127.0.0.1:29092", kafka_controller_port=29093,
                        home=REPO_ROOT / ".oms" / "cluster", network_file=NETWORK)
    share_database_passwords(get_settings(), settings)
    brokers = KafkaCluster(settings)
    brokers.start()
    asyncio.run(create_topics(settings))
    asyncio.run(create_acls(settings))
    yield brokers
    brokers.stop()


async def busiest_leader(settings: Settings) -> int:
    """The broker that leads most partitions of the topics on an order's way to `released` and back."""
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        described = await admin.describe_topics([topics.ORDERS_INBOUND.name, topics.ORDERS_EVENTS.name,
                                                 topics.INVENTORY_COMMANDS.name, topics.INVENTORY_REPLIES.name])
    finally:
        await admin.close()
    leaders = Counter(p["leader"] for t in described for p in t["partitions"])
    return leaders.most_common(1)[0][0]


async def test_the_leader_of_the_busiest_partitions_killed_mid_run(request, cluster: KafkaCluster):
    settings = cluster.settings
    folder = LOGS / request.node.name
    for old in folder.glob("*.log"):
        old.unlink()
    with RecordingWebhook() as webhook:
        env = {**CLUSTER, "OMS_SIM_DELAY_MS": "20", "OMS_SIM_FAILURE_RATE": "0", "OMS_NOTIFY_SENDER": "webhook",
               "OMS_WEBHOOK_URL": webhook.url}
        procs = {m: ServiceProcess(m, [m], folder, env).start() for m in MODULES}
        inventory = await asyncpg.create_pool(settings.database_for("inventory"), min_size=1, max_size=2)
        orders_db = await asyncpg.create_pool(settings.database_for("order"), min_size=1, max_size=2)
        oms = RunningOms(procs, webhook, workload.new_run_id(), inventory, orders_db)
        watch = OrderWatch(client_options(settings, OPERATOR), oms.run)
        try:
            for proc in procs.values():
                await proc.logged("started", timeout=120)
            await demo.seed_stock(settings, oms.run, ORDERS)
            orders = workload.orders(oms.run, ORDERS, workload.Mix(split=0.1, express=0.2))
            await watch.start()
            messages = [(topics.ORDERS_INBOUND.name, f"{o['channel']}:{o['external_id']}", orjson.dumps(o))
                        for o in orders]
            await demo.send_all(settings, messages[:ORDERS // 2])

            async def delivered() -> int:
                return watch.count("delivered")
            await eventually(delivered, partial(operator.le, ORDERS // 8), "some orders through", timeout=180)
            victim = NativeKafka(settings, await busiest_leader(settings))
            victim.stop(hard=True)
            await demo.send_all(settings, messages[ORDERS // 2:])  # the rest while it is away
            await eventually(delivered, partial(operator.le, ORDERS // 3), "orders through without it", timeout=180)
            await asyncio.to_thread(victim.start)
            await eventually(delivered, partial(operator.eq, ORDERS), "every order delivered", timeout=300,
                             interval=0.5)
            await every_invariant_holds(oms, orders, watch, ORDERS, load_network(NETWORK), client_options(settings, ADMIN))
            print(f"orders {ORDERS}, broker {victim.node} of 3 killed and restarted, lost 0, doubled 0")
        finally:
            await watch.stop()
            for proc in procs.values():
                proc.stop()
            await inventory.close()
            await orders_db.close()


async def test_a_dead_letter_topic_that_does_not_exist_parks_the_record_and_the_partition_goes_on(request, cluster):
    """The cluster creates no topic by itself: with its dead-letter topic deleted, a bad stock message is parked (not
    retried for ever) and the good one behind it is applied."""
    settings = cluster.settings
    adjustments = topics.INVENTORY_ADJUSTMENTS.name
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        await admin.delete_topics([f"{adjustments}.dlq"])
    finally:
        await admin.close()
    sku = f"SKU-NODLQ-{uuid.uuid4().hex[:6]}"
    good = {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam", "on_hand": 4}
    await demo.send_all(settings, [(adjustments, sku, b"{not json"), (adjustments, sku, orjson.dumps(good))])
    proc = ServiceProcess("inventory_service", ["inventory_service"], LOGS / request.node.name, CLUSTER).start()
    conn = await asyncpg.connect(settings.database_for("inventory"))
    try:
        await eventually(lambda: conn.fetchval("SELECT on_hand FROM stock WHERE sku = $1", sku), lambda n: n == 4,
                         "the good count behind the bad one", timeout=90)
        parked = await conn.fetchrow("SELECT * FROM parked_messages WHERE key = $1", sku.encode())
        assert parked["value"] == b"{not json" and "does not exist" in parked["reason"], dict(parked)
    finally:
        await conn.close()
        proc.stop()
        await asyncio.to_thread(asyncio.run, create_topics(settings))
