"""What must always hold, checked from the outside: events per order, stock balances, notifications once."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import asyncpg
import orjson

# Every status change an order may make (a status to itself is a shipment moving on, or a reason added;
# back to `reserved` is a part rerouted from a warehouse that said no).
ALLOWED: dict[str | None, set[str]] = {
    None: {"received", "rejected"},
    "received": {"accepted", "on_hold", "rejected"},
    "accepted": {"reserved", "backordered", "rejected", "cancelled"},
    "on_hold": {"accepted", "cancelled", "on_hold"},
    "backordered": {"reserved", "cancelled", "backordered"},
    "reserved": {"released", "cancelled"},
    "released": {"released", "reserved", "in_fulfillment", "ready_to_ship", "shipped", "delivered", "cancelled",
                 "backordered", "on_hold"},
    "in_fulfillment": {"in_fulfillment", "reserved", "released", "ready_to_ship", "shipped", "delivered", "cancelled",
                       "backordered", "on_hold"},
    "ready_to_ship": {"ready_to_ship", "reserved", "released", "in_fulfillment", "shipped", "delivered", "cancelled",
                      "on_hold", "backordered"},
    "shipped": {"shipped", "delivered", "on_hold"},
    "delivered": {"delivered", "return_requested"},
    "return_requested": {"returned"},
}


def unique_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drops redeliveries of the same message (same id); what is left must be one event per sequence number."""
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        seen.setdefault(event["id"], event)
    return sorted(seen.values(), key=lambda e: e["sequence"])


def event_problems(events_by_order: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for order_id, events in events_by_order.items():
        events = unique_events(events)
        sequences = [e["sequence"] for e in events]
        if sequences != list(range(1, len(events) + 1)):
            problems.append(f"{order_id}: sequences {sequences}")
        previous = None
        for event in events:
            if event["previous_status"] != previous or event["status"] not in ALLOWED.get(previous, set()):
                problems.append(f"{order_id}: {event['previous_status']} -> {event['status']} after {previous}")
            previous = event["status"]
    return problems


async def stock_levels(inventory: asyncpg.Pool, sku_prefix: str) -> dict[tuple[str, str], dict[str, int]]:
    rows = await inventory.fetch("SELECT sku, location_id, on_hand, reserved FROM stock WHERE sku LIKE $1",
                                 f"{sku_prefix}%")
    return {(r["sku"], r["location_id"]): {"on_hand": r["on_hand"], "reserved": r["reserved"]} for r in rows}


async def stock_problems(inventory: asyncpg.Pool, sku_prefix: str) -> list[str]:
    """counted + adjusted + received - shipped = on hand; reserved = open reservations; nothing negative."""
    rows = await inventory.fetch(
        "SELECT s.sku, s.location_id, s.on_hand, s.reserved, "
        "coalesce((SELECT sum(quantity) FROM stock_ledger l WHERE l.sku = s.sku AND l.location_id = s.location_id), 0) "
        "AS ledger, coalesce((SELECT sum(rl.quantity) FROM reservations r JOIN reservation_lines rl USING "
        "(reservation_id) WHERE r.status = 'open' AND r.location_id = s.location_id AND rl.sku = s.sku), 0) AS open "
        "FROM stock s WHERE s.sku LIKE $1", f"{sku_prefix}%")
    problems = []
    for r in rows:
        where = f"{r['sku']}@{r['location_id']}"
        if r["ledger"] != r["on_hand"]:
            problems.append(f"{where}: ledger says {r['ledger']}, on hand {r['on_hand']}")
        if r["open"] != r["reserved"]:
            problems.append(f"{where}: open reservations {r['open']}, reserved {r['reserved']}")
        if r["on_hand"] < 0 or r["reserved"] < 0 or r["reserved"] > r["on_hand"]:
            problems.append(f"{where}: on hand {r['on_hand']}, reserved {r['reserved']}")
    return problems


def shipped_by_location(latest: dict[str, dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Units that left each location, from the orders' own view of their shipments."""
    shipped: Counter[tuple[str, str]] = Counter()
    for event in latest.values():
        for shipment in event["shipments"]:
            if shipment["status"] in ("shipped", "delivered"):
                for line in shipment["lines"]:
                    shipped[(line["sku"], shipment["location_id"])] += line["quantity"]
    return shipped


def notification_counts(sent: list[dict[str, Any]], order_ids: set[str]) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for note in sent:
        if note["order_id"] in order_ids:
            counts[(note["order_id"], note["kind"], note.get("shipment_id") or "")] += 1
    return counts


async def duplicate_problems(oms: Any, order_ids: set[str]) -> list[str]:
    """No order, reservation, fulfillment request, shipment or notification exists twice."""
    from tests.support.kafka import read_topic

    problems = []
    dup_orders = await oms.orders_db.fetch(
        "SELECT channel, external_id, count(*) FROM orders WHERE order_id = ANY($1::text[]) "
        "GROUP BY 1, 2 HAVING count(*) > 1", list(order_ids))
    problems += [f"order {r['channel']}:{r['external_id']} stored {r['count']} times" for r in dup_orders]
    reservations = await oms.inventory.fetch(
        "SELECT order_id, location_id, count(*) FROM reservations WHERE order_id = ANY($1::text[]) "
        "AND status <> 'released' GROUP BY 1, 2 HAVING count(*) > 1", list(order_ids))
    problems += [f"{r['order_id']}: {r['count']} live reservations at {r['location_id']}" for r in reservations]
    requests: dict[tuple[str, str], set[str]] = defaultdict(set)
    network = oms.network
    for topic in [f"partners.warehouse.{loc.id}.requests.v1" for loc in network.locations] + \
                 [f"partners.carrier.{c.id}.requests.v1" for c in network.carriers]:
        for record in await read_topic(topic, timeout=60):
            body = orjson.loads(record.value)
            if body["order_id"] in order_ids and body["type"] in ("fulfillment.requested", "shipment.booking_requested"):
                requests[(body["type"], body.get("fulfillment_id") or body["shipment_id"])].add(body["id"])
    problems += [f"{kind} {ref} sent as {len(ids)} different messages" for (kind, ref), ids in requests.items()
                 if len(ids) > 1]
    notified: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for record in await read_topic("oms.notifications.v1", timeout=60):
        body = orjson.loads(record.value)
        if body["order_id"] in order_ids:
            notified[(body["order_id"], body["kind"], body.get("shipment_id") or "")].add(body["id"])
    problems += [f"notification {key} recorded {len(ids)} times" for key, ids in notified.items() if len(ids) > 1]
    sent = notification_counts(oms.sent_notifications(), order_ids)
    problems += [f"notification {key} sent {n} times" for key, n in sent.items() if n > 1]
    return problems
