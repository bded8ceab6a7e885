"""`oms customer erase`: the customer's personal data is masked in every service that kept it, the orders keep
their ids, lines and statuses, and a second run touches nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

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
    "inventory": "SELECT count(*) FROM backorders WHERE order_id = $1 AND command::text LIKE '%' || $3 || '%' "
                 "AND $2 <> ''",
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
    assert after == {"order": 0, "inventory": 0, "notification": 0}, (before, after, shown)
    assert "order.orders" in shown and "notification.contacts" in shown

    conn = await asyncpg.connect(get_settings().database_for("order"))
    try:
        kept = await conn.fetchrow("SELECT status, shipping_address->>'country' AS country, "
                                   "(SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id) AS lines "
                                   "FROM orders o WHERE order_id = $1", order_id)
    finally:
        await conn.close()
    assert (kept["status"], kept["country"], kept["lines"]) == ("backordered", order["shipping_address"]["country"], 1)
    again = dict(re.findall(r"│ ([a-z]+\.[a-z]+)\s+│ (\d+)", erase(email)))
    assert len(again) == 5 and set(again.values()) == {"0"}, again
