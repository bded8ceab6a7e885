"""`oms customer erase`: the customer's personal data is masked in every service that kept it, the orders keep
their ids, lines and statuses, and a second run touches nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta

import asyncpg
import orjson
import pytest

from contracts import topics
from oms_cli import workload
from order_service.domain import order_id_for
from runtime.settings import REPO_ROOT, get_settings
from tests.conftest import service_process
from tests.support.kafka import Producer
from tests.support.poll import eventually

pytestmark = pytest.mark.component

# where each service keeps personal data, and how to count the rows that still hold this customer's
PERSONAL = {
    "order": "SELECT count(*) FROM orders WHERE order_id = $1 AND (customer::text LIKE '%' || $2 || '%' "
             "OR shipping_address::text LIKE '%' || $3 || '%' OR saga::text LIKE '%' || $3 || '%')",
    "notification": "SELECT (SELECT count(*) FROM contacts WHERE email = $2 OR name LIKE '%' || $3 || '%') + "
                    "(SELECT count(*) FROM notifications WHERE order_id = $1 AND recipient = $2)",
}


async def personal_rows(order_id: str, email: str, street: str) -> dict[str, int]:
    found = {}
    for service, query in PERSONAL.items():
        conn = await asyncpg.connect(get_settings().database_for(service))
        try:
            found[service] = await conn.fetchval(query, order_id, email, street)
        finally:
            await conn.close()
    return found


def erase(*who: str, refused: bool = False) -> str:
    done = subprocess.run([sys.executable, "-m", "oms_cli.main", "customer", "erase", *who], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert (done.returncode != 0) == refused, (done.stdout + done.stderr)[-2000:]
    return done.stdout


async def test_a_customers_personal_data_is_masked_everywhere_and_the_order_stays(request, processes, stack):
    for name in ("order", "inventory", "notification"):
        service_process(processes, request, name, f"{name}_service").wait_for_log("service.started")
    run = uuid.uuid4().hex[:6]
    order = workload.orders(run, 1, workload.Mix())[0]
    email = f"erase-{run}@example.com"
    street = f"Erasestreet {run}"
    order["customer"] = {**order["customer"], "email": email, "name": f"Eve {run}"}
    order["shipping_address"] = {**order["shipping_address"], "line1": street, "name": f"Eve {run}"}
    order["lines"] = [{"sku": f"SKU-NONE-{run}", "quantity": 1, "unit_price": "9.90"}]  # none anywhere: backordered
    order_id = order_id_for(order["channel"], order["external_id"])
    async with Producer() as producer:
        await producer.send(topics.INVENTORY_ADJUSTMENTS.name, orjson.dumps(
            {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": f"SKU-NONE-{run}", "location_id": "dc-rotterdam",
             "on_hand": 0}), key=f"SKU-NONE-{run}")
    inventory = await asyncpg.connect(get_settings().database_for("inventory"))
    try:  # a known SKU with nothing on hand: the order waits as a backorder (an unknown one would be refused)
        await eventually(lambda: inventory.fetchval("SELECT count(*) FROM stock WHERE sku = $1", f"SKU-NONE-{run}"),
                         lambda n: n == 1, "the SKU known to inventory")
    finally:
        await inventory.close()
    async with Producer() as producer:
        await producer.send(topics.ORDERS_INBOUND.name, orjson.dumps(order),
                            key=f"{order['channel']}:{order['external_id']}")

    before = await eventually(lambda: personal_rows(order_id, email, street), lambda f: all(f.values()),
                              "the customer's data in every service", timeout=90)
    inventory = await asyncpg.connect(get_settings().database_for("inventory"))
    try:  # the order waits at inventory, which was told its destination country and no one's address
        waiting = await eventually(lambda: inventory.fetchval(
            "SELECT command::text FROM backorders WHERE order_id = $1", order_id), bool, "the order backordered")
    finally:
        await inventory.close()
    assert street not in waiting and email not in waiting
    assert "not over yet" in erase(email, refused=True), "an order on its way is not shipped to 'erased'"
    after = await personal_rows(order_id, email, street)  # notices may still be added meanwhile: none is masked
    assert all(after[service] >= rows for service, rows in before.items()), (before, after)
    async with Producer() as producer:
        await producer.send(topics.ORDERS_INBOUND.name, orjson.dumps({
            "type": "order.cancel_requested", "id": str(uuid.uuid4()), "channel": order["channel"],
            "external_id": order["external_id"], "reason": "the customer asked to be forgotten"}),
            key=f"{order['channel']}:{order['external_id']}")
    order_db = await asyncpg.connect(get_settings().database_for("order"))
    try:
        await eventually(lambda: order_db.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id),
                         lambda s: s == "cancelled", "the order cancelled")
    finally:
        await order_db.close()
    shown = erase(email.upper())
    after = await personal_rows(order_id, email, street)
    assert after == {"order": 0, "notification": 0}, (before, after, shown)
    assert "order.orders" in shown and "notification.contacts" in shown

    conn = await asyncpg.connect(get_settings().database_for("order"))
    try:
        kept = await conn.fetchrow("SELECT status, shipping_address->>'country' AS country, "
                                   "(SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id) AS lines "
                                   "FROM orders o WHERE order_id = $1", order_id)
    finally:
        await conn.close()
    assert (kept["status"], kept["country"], kept["lines"]) == ("cancelled", order["shipping_address"]["country"], 1)
    again = dict(re.findall(r"│ ([a-z]+\.[a-z_]+)\s+│ (\d+)", erase(email)))
    assert set(again.values()) == {"0"}, again
    assert {"gateway.contact_hashes", "gateway.webhook_deliveries", "order.parked_messages",
            "notification.sent_log"} <= set(again), again


async def test_an_order_over_for_longer_than_the_retention_loses_its_personal_data(request, processes, stack):
    """OMS_PERSONAL_DATA_RETENTION_DAYS after an order is over, the order service masks its customer and address;
    a recent one keeps them."""
    conn = await asyncpg.connect(get_settings().database_for("order"))
    run = uuid.uuid4().hex[:6]
    address = {"name": "Old Customer", "line1": f"Oldstreet {run}", "city": "Berlin", "postal_code": "10115",
               "country": "DE"}
    try:
        for n, age, status in ((1, timedelta(days=100), "delivered"), (2, timedelta(days=1), "delivered"),
                               (3, timedelta(days=100), "returned"), (4, timedelta(days=100), "collected")):
            await conn.execute(
                "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga, customer, "
                "shipping_address, updated_at) VALUES ($1, 'web', $1, $6, 'completed', $2, $3, $4, "
                "now() - $5::interval)", f"ret-{run}-{n}", orjson.dumps({"ship_to": address}).decode(),
                orjson.dumps({"id": f"c-{run}", "email": f"old-{run}@example.com", "name": "Old Customer"}).decode(),
                orjson.dumps(address).decode(), age, status)
        service_process(processes, request, "order", "order_service",
                        env={"OMS_PERSONAL_DATA_CHECK_INTERVAL_S": "0.5"}).wait_for_log("service.started")

        async def kept() -> list[str]:
            return [r["v"] for r in await conn.fetch(
                "SELECT customer->>'email' || '|' || (shipping_address->>'line1') || '|' "
                "|| (saga::jsonb->'ship_to'->>'line1') || '|' || (shipping_address->>'country') AS v "
                "FROM orders WHERE order_id LIKE $1 ORDER BY order_id",
                f"ret-{run}-%")]
        found = await eventually(kept, lambda v: v[0].startswith("erased") and v[3].startswith("erased"),
                                 "the old orders masked, returned and collected ones too")
        assert found == ["erased|erased|erased|DE", f"old-{run}@example.com|Oldstreet {run}|Oldstreet {run}|DE",
                         "erased|erased|erased|DE", "erased|erased|erased|DE"]
    finally:
        await conn.close()


async def test_erasing_a_channels_customer_id_leaves_another_channels_customer_of_the_same_id(
        request, processes, stack):
    service_process(processes, request, "order", "order_service").wait_for_log("service.started")
    run = uuid.uuid4().hex[:6]
    web, app = workload.orders(run, 2, workload.Mix())[:2]
    for order, channel in ((web, "web"), (app, "app")):  # one id in two channels: two people
        order |= {"channel": channel, "customer": {**order["customer"], "id": f"C-{run}",
                                                   "email": f"{channel}-{run}@example.com"},
                  "lines": [{"sku": f"SKU-UNKNOWN-{run}", "quantity": 1, "unit_price": "1.00"}]}
    async with Producer() as producer:
        for order in (web, app):  # placed and cancelled at once: both over
            key = f"{order['channel']}:{order['external_id']}"
            await producer.send(topics.ORDERS_INBOUND.name, orjson.dumps(order), key=key)
            await producer.send(topics.ORDERS_INBOUND.name, orjson.dumps({
                "type": "order.cancel_requested", "id": str(uuid.uuid4()), "channel": order["channel"],
                "external_id": order["external_id"]}), key=key)
    conn = await asyncpg.connect(get_settings().database_for("order"))
    try:
        async def emails() -> list[str]:
            return [r["e"] for r in await conn.fetch(
                "SELECT customer->>'email' AS e FROM orders WHERE customer->>'id' = $1 AND status = 'cancelled' "
                "ORDER BY channel", f"C-{run}")]
        await eventually(emails, lambda e: len(e) == 2, "both orders stored and cancelled")
        erase("--customer-id", f"C-{run}", refused=True)  # an id alone names no one: it is a channel's
        erase("--channel", "web", "--customer-id", f"C-{run}")
        assert await emails() == [f"app-{run}@example.com", "erased"], "only the web channel's customer"
    finally:
        await conn.close()
