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
from shared.settings import REPO_ROOT, get_settings
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


def erase(who: str) -> str:
    done = subprocess.run([sys.executable, "-m", "oms_cli.main", "customer", "erase", who], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-2000:]
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
    assert (kept["status"], kept["country"], kept["lines"]) == ("backordered", order["shipping_address"]["country"], 1)
    again = dict(re.findall(r"│ ([a-z]+\.[a-z_]+)\s+│ (\d+)", erase(email)))
    assert len(again) == 5 and set(again.values()) == {"0"}, again  # gateway.contact_hashes among them
    inventory = await asyncpg.connect(get_settings().database_for("inventory"))
    try:  # the order waits at inventory, which was told its destination country and no one's address
        waiting = await inventory.fetchval("SELECT command::text FROM backorders WHERE order_id = $1", order_id)
    finally:
        await inventory.close()
    assert waiting is not None and street not in waiting and email not in waiting


async def test_an_order_over_for_longer_than_the_retention_loses_its_personal_data(request, processes, stack):
    """OMS_PERSONAL_DATA_RETENTION_DAYS after an order is over, the order service masks its customer and address;
    a recent one keeps them."""
    conn = await asyncpg.connect(get_settings().database_for("order"))
    run = uuid.uuid4().hex[:6]
    address = {"name": "Old Customer", "line1": f"Oldstreet {run}", "city": "Berlin", "postal_code": "10115",
               "country": "DE"}
    try:
        for n, age in ((1, timedelta(days=100)), (2, timedelta(days=1))):
            await conn.execute(
                "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga, customer, "
                "shipping_address, updated_at) VALUES ($1, 'web', $1, 'delivered', 'completed', $2, $3, $4, "
                "now() - $5::interval)", f"ret-{run}-{n}", orjson.dumps({"ship_to": address}).decode(),
                orjson.dumps({"id": f"c-{run}", "email": f"old-{run}@example.com", "name": "Old Customer"}).decode(),
                orjson.dumps(address).decode(), age)
        service_process(processes, request, "order", "order_service",
                        env={"OMS_PERSONAL_DATA_CHECK_INTERVAL_S": "0.5"}).wait_for_log("service.started")

        async def kept() -> list[str]:
            return [r["v"] for r in await conn.fetch(
                "SELECT customer->>'email' || '|' || (shipping_address->>'line1') || '|' || (saga->'ship_to'->>'line1') "
                "|| '|' || (shipping_address->>'country') AS v FROM orders WHERE order_id LIKE $1 ORDER BY order_id",
                f"ret-{run}-%")]
        found = await eventually(kept, lambda v: v[0].startswith("erased"), "the old order masked")
        assert found == ["erased|erased|erased|DE", f"old-{run}@example.com|Oldstreet {run}|Oldstreet {run}|DE"]
    finally:
        await conn.close()
