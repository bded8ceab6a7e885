"""Money on the real stack: Shopify's example order with its discount code and state tax, posted as Shopify posts
it, captured shipment by shipment and refunded at what was paid; a capture the payment side declines holds the
order."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from contracts import topics
from oms_cli.queries import orders as orders_read
from runtime import signing
from runtime.settings import get_settings
from tests.e2e.test_gateway import _secret
from tests.e2e.test_returns import returning
from tests.e2e.test_when_things_go_wrong import oid, status_of_reason, until_status
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parent.parent / "support" / "payloads" / "shopify_example_1001.json"


async def payments_of(order_id: str, kind: str, count: int) -> list[dict]:
    """What the OMS asked of payments for this order (`kind`), once `count` are there."""
    async def seen() -> list[dict]:
        found = [orjson.loads(r.value) for r in await read_topic(topics.PAYMENTS.name, 5)]
        return [m for m in found if m["order_id"] == order_id and m["type"] == kind]
    return await eventually(seen, lambda found: len(found) >= count, f"{count} {kind} of {order_id}")


async def test_shopifys_example_is_captured_per_shipment_and_its_green_line_refunded_at_what_was_paid(oms, gateway):
    # green only in Berlin, red and black only in Rotterdam: two shipments
    await oms.stock({"IPOD2008GREEN": {"3pl-berlin": 1}, "IPOD2008RED": {"dc-rotterdam": 1},
                     "IPOD2008BLACK": {"dc-rotterdam": 1}})
    shop = json.loads(EXAMPLE.read_text())
    shop["id"] = int(time.time() * 1000)
    for item in shop["line_items"]:
        item["sku"] = f"{oms.run}-{item['sku']}"
    raw = orjson.dumps(shop)
    order = {"channel": "web", "external_id": str(shop["id"])}
    answer = await gateway.client.post("/v1/channels/web/shopify/orders", content=raw, headers={
        "X-Shopify-Hmac-Sha256": signing.shopify_sign(_secret("web"), raw), "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": f"wh-{shop['id']}", "content-type": "application/json"})
    assert answer.status_code == 202, answer.text
    delivered = await gateway.until("web", order["external_id"], "delivered")
    assert len(delivered["shipments"]) == 2, delivered["shipments"]

    captures = await payments_of(oid(order), "payment.capture_requested", 2)
    assert sorted(c["shipment_id"] for c in captures) == sorted(s["shipment_id"] for s in delivered["shipments"])
    assert sum(Decimal(c["amount"]) for c in captures) == Decimal("602.94"), "the order's total, in two parts"
    assert sorted(c.get("shipping") or "" for c in captures) == ["", "4.00"], "shipping with the first only"
    green = next(c for c in captures if any(line["sku"].endswith("GREEN") for line in c["lines"]))
    line = next(line for line in green["lines"] if line["sku"].endswith("GREEN"))
    assert (line["amount"], line["discount"], line["tax"]) == ("199.64", "3.34", "3.98")

    await oms.send(returning(order, "store-munich", {"IPOD2008GREEN": 1}, oms.run))
    await gateway.until("web", order["external_id"], "returned")
    [refund] = await payments_of(oid(order), "refund.requested", 1)
    assert (refund["amount"], refund["currency"], refund["reason"]) == ("199.64", "USD", "returned")
    assert [(r["sku"], r["quantity"], r["unit_price"], r["amount"]) for r in refund["lines"]] == [
        (f"{oms.run}-IPOD2008GREEN", 1, "199.00", "199.64")]

    settings = get_settings()
    found = await orders_read.order(settings, oid(order))
    assert found is not None and found["money"] is not None
    money = found["money"]
    assert (money.paid, money.captured, money.refunded, money.outstanding) == (
        Decimal("602.94"), Decimal("602.94"), Decimal("199.64"), Decimal("0"))

    async def documents() -> list:
        return await orders_read.documents(settings, oid(order))
    docs = await eventually(documents, lambda rows: len(rows) == 3 and all(r["number"] for r in rows),
                            "two invoices and a credit note, numbered")
    assert sorted(r["kind"] for r in docs) == ["credit_note", "invoice", "invoice"]


async def test_a_capture_the_payment_side_declines_holds_the_delivered_order(oms):
    await oms.stock({"CARD": {"3pl-berlin": 2}})
    order = oms.order(1, {"CARD": 1}, payment={"status": "authorized", "reference": "decline-4000000000000002"})
    watch = await oms.watch()
    try:
        await oms.send(order)
        async def held() -> dict | None:
            return await status_of_reason(watch, order, "capture_failed")
        event = await eventually(held, bool, "held for the declined capture", timeout=90)
        assert event is not None and event["status"] == "on_hold" and "card declined" in event["reason"]["message"]
        [capture] = await payments_of(oid(order), "payment.capture_requested", 1)
        assert capture["amount"] == "10.00"
        await until_status(watch, order, "on_hold")  # the goods arrived meanwhile: still held, for a person
    finally:
        await watch.stop()
