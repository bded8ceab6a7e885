"""What must always hold, checked from the outside: events per order, stock balances, notifications once."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import asyncpg
import orjson

from runtime.security import KafkaOptions

# Every status change an order may make (a status to itself is a shipment moving on, or a reason added, such as a
# refused request; back to `reserved` is a part rerouted from a warehouse that said no).
ALLOWED: dict[str | None, set[str]] = {
    None: {"received", "rejected"},
    "received": {"accepted", "on_hold", "rejected"},
    "accepted": {"reserved", "backordered", "rejected", "cancelled", "on_hold"},  # on hold: a new address that does
                                                                                  # not fit
    "on_hold": {"accepted", "cancelled", "on_hold", "released", "in_fulfillment", "ready_to_ship", "shipped",
                "delivered", "backordered"},  # released holds resume where they stopped
    "backordered": {"reserved", "cancelled", "backordered", "on_hold"},
    "reserved": {"released", "cancelled"},
    "released": {"released", "reserved", "in_fulfillment", "ready_to_ship", "shipped", "delivered", "cancelled",
                 "backordered", "on_hold"},
    "in_fulfillment": {"in_fulfillment", "reserved", "released", "ready_to_ship", "shipped", "delivered", "cancelled",
                       "backordered", "on_hold"},
    "ready_to_ship": {"ready_to_ship", "reserved", "released", "in_fulfillment", "shipped", "delivered", "cancelled",
                      "on_hold", "backordered"},
    "shipped": {"shipped", "delivered", "on_hold"},
    "delivered": {"delivered", "return_requested"},
    "return_requested": {"return_requested", "returned", "delivered"},  # delivered: the only open return expired
    "returned": {"returned", "return_requested"},  # another return of what is left
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
            allowed = ALLOWED.get(previous, set()) | ({previous} if previous else set())
            if event["previous_status"] != previous or event["status"] not in allowed:
                problems.append(f"{order_id}: {event['previous_status']} -> {event['status']} after {previous}")
            previous = event["status"]
    return problems


async def stock_levels(inventory: asyncpg.Pool, sku_prefix: str) -> dict[tuple[str, str], dict[str, int]]:
    rows = await inventory.fetch("SELECT sku, location_id, on_hand, reserved FROM stock WHERE sku LIKE $1",
                                 f"{sku_prefix}%")
    return {(r["sku"], r["location_id"]): {"on_hand": r["on_hand"], "reserved": r["reserved"]} for r in rows}


STOCK_ROWS = (
    "SELECT s.sku, s.location_id, s.on_hand, s.reserved, "
    "coalesce((SELECT sum(quantity) FROM stock_ledger l WHERE l.sku = s.sku AND l.location_id = s.location_id), 0) "
    "AS ledger, coalesce((SELECT sum(rl.quantity) FROM reservations r JOIN reservation_lines rl USING "
    "(reservation_id) WHERE r.status = 'open' AND r.location_id = s.location_id AND rl.sku = s.sku), 0) AS open "
    "FROM stock s WHERE s.sku LIKE $1")


async def stock_problems(inventory: asyncpg.Pool, sku_prefix: str) -> list[str]:
    """counted + adjusted + received - shipped = on hand; reserved = open reservations; nothing negative."""
    return stock_row_problems([dict(r) for r in await inventory.fetch(STOCK_ROWS, f"{sku_prefix}%")])


def stock_row_problems(rows: list[dict[str, Any]]) -> list[str]:
    """`stock_problems` on rows of sku, location_id, on_hand, reserved, ledger (the ledger's sum) and open (the
    open reservations' units)."""
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


def expected_outcome(order: dict[str, Any], returned: bool = False) -> tuple[str, str | None]:
    """What a workload order must end as: held with its payment's reason, or delivered (returned, if it was sent
    back and its location received it)."""
    payment = (order.get("payment") or {}).get("status")
    if payment in ("pending", "failed"):
        return "on_hold", f"payment_{payment}"
    return ("returned", "return_received") if returned else ("delivered", None)


def completion_problems(sent: list[dict[str, Any]], latest: dict[str, dict[str, Any]],
                        stored: dict[str, tuple[str, str | None]], order_id: Any,
                        returned: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Every order sent ends as expected (status, and the reason where one is expected) both in its last event and in
    the order database, and the database holds no order of the run that was not sent. `order_id(order)` names one;
    `returned` are the external ids of orders a return was asked for."""
    problems = []
    wanted = {order_id(o): expected_outcome(o, o["external_id"] in returned) for o in sent}
    for oid, (status, reason) in wanted.items():
        event = latest.get(oid)
        seen = (event["status"], (event.get("reason") or {}).get("code")) if event else None
        for where, got in (("events", seen), ("database", stored.get(oid))):
            if got is None:
                problems.append(f"{oid}: not in the {where}")
            elif got[0] != status or (reason is not None and got[1] != reason):
                problems.append(f"{oid}: {where} says {got[0]} ({got[1]}), expected {status} ({reason})")
    problems += [f"{oid}: stored but never sent" for oid in set(stored) - set(wanted)]
    return problems


async def stored_outcomes(orders_db: asyncpg.Pool, run: str) -> dict[str, tuple[str, str | None]]:
    """The order database's own view of a run: each order's status and the reason of its last timeline row."""
    rows = await orders_db.fetch(
        "SELECT o.order_id, o.status, (SELECT t.reason->>'code' FROM order_timeline t WHERE t.order_id = o.order_id "
        "ORDER BY t.sequence DESC LIMIT 1) AS code FROM orders o WHERE o.external_id LIKE $1", f"{run}-%")
    return {r["order_id"]: (r["status"], r["code"]) for r in rows}


def restocked_by_location(latest: dict[str, dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Resellable units received back at each location, from the orders' own view of their returns."""
    back: Counter[tuple[str, str]] = Counter()
    for event in latest.values():
        for returned in event.get("returns", []):
            for line in returned.get("received", []):
                if line["condition"] == "resellable":
                    back[(line["sku"], returned["location_id"])] += line["quantity"]
    return back


def stock_flow_problems(seeded: dict[tuple[str, str], int], shipped: Counter[tuple[str, str]],
                        levels: dict[tuple[str, str], dict[str, int]],
                        restocked: Counter[tuple[str, str]] | None = None) -> list[str]:
    """On hand fell by exactly what the orders' events say was shipped from each location (and rose by the resellable
    units returned there), and nothing stays reserved once every order has ended (seeded counts and order events:
    evidence independent of inventory)."""
    problems = []
    restocked = restocked or Counter()
    for key in sorted(set(seeded) | set(levels) | set(shipped) | set(restocked)):
        level = levels.get(key, {"on_hand": 0, "reserved": 0})
        want = seeded.get(key, 0) - shipped.get(key, 0) + restocked.get(key, 0)
        if level["on_hand"] != want:
            problems.append(f"{key[0]}@{key[1]}: on hand {level['on_hand']}, seeded {seeded.get(key, 0)} less "
                            f"shipped {shipped.get(key, 0)} plus returned {restocked.get(key, 0)} is {want}")
        if level["reserved"] != 0:
            problems.append(f"{key[0]}@{key[1]}: {level['reserved']} still reserved")
    return problems


def expected_notifications(latest: dict[str, dict[str, Any]]) -> set[tuple[str, str, str]]:
    """What the customers of orders that ended must have been told: a confirmation, shipped and delivered per
    shipment for a delivered order; on_hold for a held one."""
    expected: set[tuple[str, str, str]] = set()
    for oid, event in latest.items():
        if event["status"] == "on_hold":
            expected.add((oid, "on_hold", ""))
        elif event["status"] in ("delivered", "returned"):
            expected.add((oid, "confirmation", ""))
            for shipment in event["shipments"]:
                expected |= {(oid, "shipped", shipment["shipment_id"]), (oid, "delivered", shipment["shipment_id"])}
            expected |= {(oid, "return_received", r["return_id"]) for r in event.get("returns", [])
                         if r["status"] == "received"}
    return expected


def refund_problems(refunds: list[dict[str, Any]], latest: dict[str, dict[str, Any]],
                    prices: dict[str, dict[str, str]]) -> list[str]:
    """One refund per return received (however often the OMS's own records were redelivered: one message id), for
    the units that came back at the prices the order was placed with (`prices`: order id -> SKU -> unit price);
    none for anything else."""
    from decimal import Decimal

    ids: dict[str, set[str]] = defaultdict(set)
    amounts: dict[str, str] = {}
    for refund in refunds:
        ids[str(refund["return_id"])].add(refund["id"])
        amounts[str(refund["return_id"])] = refund["amount"]
    problems = [f"return {rid}: {len(found)} refunds" for rid, found in ids.items() if len(found) > 1]
    received = {r["return_id"]: (oid, r) for oid, e in latest.items() for r in e.get("returns", [])
                if r["status"] == "received"}
    for rid, (oid, returned) in received.items():
        want = sum((Decimal(prices[oid][line["sku"]]) * line["quantity"] for line in returned["received"]),
                   Decimal("0"))
        if rid not in amounts:
            problems.append(f"return {rid}: received, never refunded")
        elif Decimal(amounts[rid]) != want:
            problems.append(f"return {rid}: refunded {amounts[rid]}, the units that came back cost {want}")
    problems += [f"return {rid}: refunded but never received" for rid in set(ids) - set(received)]
    return problems


def notification_problems(calls: list[dict[str, Any]], expected: set[tuple[str, str, str]],
                          kills: int = 0, round_size: int = 0) -> list[str]:
    """From every call the sender made: each expected notice sent, under one notification id, and once. A dispatcher
    killed between sending a round and recording it sends that round again (the receiver drops the copies by their
    idempotency key): so `kills` kills of the dispatcher allow at most `kills` copies of one notification and at
    most `kills * round_size` copies in all."""
    order_ids = {key[0] for key in expected}
    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    copies: Counter[str] = Counter()
    unkeyed: list[str] = []
    for call in calls:
        key = (call["order_id"], call["kind"], call.get("shipment_id") or "")
        if key[0] in order_ids and not key[1].startswith("operator"):
            ids[key].add(call["notification_id"])
            copies[call["notification_id"]] += 1
            if call.get("idempotency_key") != call["notification_id"]:
                unkeyed.append(f"{key}: sent with idempotency key {call.get('idempotency_key')!r}")
    problems = unkeyed + [f"{key}: never sent" for key in sorted(expected - set(ids))]
    problems += [f"{key}: sent but not expected" for key in sorted(set(ids) - expected)]
    problems += [f"{key}: sent as {len(found)} different notifications" for key, found in ids.items() if len(found) > 1]
    problems += [f"notification {nid}: sent {n} times" for nid, n in copies.items() if n > 1 + kills]
    extra = sum(n - 1 for n in copies.values())
    if extra > kills * round_size:
        problems.append(f"{extra} copies in all, more than {kills} kill(s) of a dispatcher sending rounds of "
                        f"{round_size} can cause")
    return problems


def request_refs(bodies: list[tuple[str, dict[str, Any]]], order_ids: set[str]) -> list[str]:
    """From what was sent to partners (topic, message): each request or booking sent as two messages (ids). A pickup
    request names no order: it is about none of them."""
    requests: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for topic, body in bodies:
        if body.get("order_id") in order_ids and body["type"] in ("fulfillment.requested", "shipment.booking_requested",
                                                                   "return.expected", "purchase_order.requested"):
            ref = body.get("fulfillment_id") or body.get("return_id") or body.get("po_id") or body["shipment_id"]
            requests[(topic, body["type"], ref)].add(body["id"])
    return [f"{kind} {ref} sent to {topic} as {len(ids)} different messages"
            for (topic, kind, ref), ids in requests.items() if len(ids) > 1]


async def duplicate_request_problems(network: Any, order_ids: set[str], kafka: KafkaOptions | None = None) -> list[str]:
    """No partner was sent the same fulfillment request, purchase order or carrier booking as two different messages
    (ids): a relay or handler that ran twice would send a copy with an id of its own."""
    from tests.support.kafka import read_topics

    read = await read_topics([f"partners.warehouse.{i}.requests.v1" for i in network.sites] +
                             [f"partners.supplier.{i}.requests.v1" for i in network.suppliers] +
                             [f"partners.carrier.{c.id}.requests.v1" for c in network.carriers], timeout=60, kafka=kafka)
    return request_refs([(topic, orjson.loads(r.value)) for topic, records in read.items() for r in records], order_ids)
