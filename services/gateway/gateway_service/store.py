"""The gateway's read model: the unit of work that projects order events into it, and the queries that serve it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from contracts.base import MAX_ID_LENGTH, Message
from contracts.channels import OrderSubmitted, order_id_for
from contracts.notification import NotificationRequested
from contracts.order import RETURN_VIEWS, SHIPMENT_VIEWS, OrderStatusChanged
from contracts.payments import PaymentCaptureRequested, RefundRequested
from gateway_service.bootstrap import GatewayDeps
from gateway_service.domain import contact_hash, jsonb
from gateway_service.subscribers import Subscriber, delivery_id
from runtime.maintenance import maintenance
from runtime.messaging import encode
from runtime.parking import storable
from runtime.repository import Columns, Records, Rows
from runtime.retries import Sends, due, sendable
from runtime.tables import Database, Row, Table, Where, by
from runtime.unit import UnitOfWork

VIEWS = Table("order_views", ("order_id",), {
    "order_id": "text", "channel": "text", "external_id": "text", "status": "text", "sequence": "integer",
    "reason": "jsonb", "shipments": "jsonb", "returns": "jsonb", "tracking_token": "text"},
    updates=("status", "sequence", "reason", "shipments", "returns"), unique=(("tracking_token",),))
TIMELINE = Table("order_timeline", ("order_id", "sequence"), {
    "order_id": "text", "sequence": "integer", "status": "text", "previous_status": "text", "reason": "jsonb",
    "occurred_at": "timestamptz"}, insert_checked=False)
DELIVERIES = Table("webhook_deliveries", ("delivery_id",), {
    "delivery_id": "text", "subscriber": "text", "message_id": "text", "message_type": "text", "order_id": "text",
    "payload": "jsonb"}, insert_checked=False)
OUTGOING = sendable(DELIVERIES, ("subscriber", "message_id", "message_type", "order_id", "payload"))
ANSWERS = Table("answered_requests", ("replay_key",), {"replay_key": "text", "answer": "jsonb",
                                                       "keep_until": "timestamptz"}, insert_checked=False)
CONTACTS = Table("contact_hashes", ("order_id",), {"order_id": "text", "email_hash": "text", "phone_hash": "text",
                                                   "name_hash": "text"}, insert_checked=False)
NOTIFIED = Table("order_notifications", ("notification_id",), {
    "notification_id": "text", "order_id": "text", "kind": "text", "medium": "text", "shipment_id": "text"},
    insert_checked=False)
MONEY = Table("order_money", ("message_id",), {
    "message_id": "text", "order_id": "text", "kind": "text", "amount": "numeric", "currency": "text",
    "reason": "text", "shipment_id": "text"}, insert_checked=False)


@dataclass(slots=True)
class OrderView(Columns):
    """An order as the channels' API and the tracking page show it: its latest event's status, shipments, returns."""

    order_id: str
    channel: str
    external_id: str
    status: str
    sequence: int
    reason: str | None  # JSON
    shipments: str  # JSON
    returns: str  # JSON
    tracking_token: str


class GatewayWork(UnitOfWork):
    """Views are read and locked once per batch; a later event of an order replaces what an earlier one wrote
    (events arrive in order per order, and a re-read one is older than what is there: it changes nothing)."""

    deps: GatewayDeps

    def __init__(self, deps: GatewayDeps, db: Database) -> None:
        super().__init__(deps, db)
        self.views = self.repository(Records(db, VIEWS, OrderView))
        self.timeline = self.repository(Rows(db, TIMELINE))
        self.contacts = self.repository(Rows(db, CONTACTS))
        self.notified = self.repository(Rows(db, NOTIFIED))
        self.money = self.repository(Rows(db, MONEY))
        self.deliveries = self.repository(Rows(db, DELIVERIES))
        self.outgoing_deliveries = self.repository(Deliveries(db))
        self.answers = self.repository(Rows(db, ANSWERS))

    @property
    def secret(self) -> str:
        return self.deps.tracking_secret

    @property
    def subscribers(self) -> list[Subscriber]:
        return self.deps.subscribers

    async def prepare(self, messages: Sequence[Message]) -> None:
        ids = sorted({m.order_id for m in messages if isinstance(m, OrderStatusChanged | NotificationRequested)})
        if ids:
            await self.views.load(by("order_id", ids), keys=[(i,) for i in ids])

    def project(self, event: OrderStatusChanged, token: str) -> bool:
        """The order as this event shows it; False when the view already shows a later one."""
        reason = jsonb(event.reason.__pydantic_serializer__.to_json(event.reason)) if event.reason else None
        shipments, returns = jsonb(SHIPMENT_VIEWS.dump_json(event.shipments)), jsonb(RETURN_VIEWS.dump_json(event.returns))
        self.timeline.add({"order_id": event.order_id, "sequence": event.sequence, "status": event.status,
                           "previous_status": event.previous_status, "reason": reason,
                           "occurred_at": event.occurred_at})
        view = self.views.cached(event.order_id)
        if view is None:
            return self.views.add(OrderView(
                order_id=event.order_id, channel=storable(event.channel, MAX_ID_LENGTH),
                external_id=storable(event.external_id, MAX_ID_LENGTH), status=event.status, sequence=event.sequence,
                reason=reason, shipments=shipments, returns=returns, tracking_token=token))
        if event.sequence <= view.sequence:
            return False
        self.views.save(event.order_id, status=event.status, sequence=event.sequence, reason=reason,
                        shipments=shipments, returns=returns)
        return True

    def deliver(self, message: OrderStatusChanged | NotificationRequested, channel: str | None) -> int:
        """A delivery to each subscriber that wants this message (once per subscriber and message)."""
        wanted = [s for s in self.subscribers if s.wants(message.type, channel)]
        if not wanted:
            return 0
        payload = jsonb(encode(message))
        for subscriber in wanted:
            self.deliveries.add({"delivery_id": delivery_id(subscriber.id, message.id), "subscriber": subscriber.id,
                                 "message_id": message.id, "message_type": message.type,
                                 "order_id": message.order_id, "payload": payload})
        return len(wanted)

    def remember_contact(self, msg: OrderSubmitted) -> None:
        self.contacts.add({"order_id": order_id_for(msg.channel, msg.external_id),
                           "email_hash": contact_hash(self.secret, msg.customer.email),
                           "phone_hash": contact_hash(self.secret, msg.customer.phone) if msg.customer.phone else None,
                           "name_hash": contact_hash(self.secret, msg.customer.name)})

    def asked_payment(self, msg: RefundRequested | PaymentCaptureRequested) -> None:
        """A capture or refund the OMS asked for, as the desk shows it (amount and why, no payment reference)."""
        self.money.add({"message_id": msg.id, "order_id": msg.order_id, "currency": msg.currency,
                        "kind": "refund" if isinstance(msg, RefundRequested) else "capture",
                        "amount": Decimal(msg.amount), "shipment_id": getattr(msg, "shipment_id", None),
                        "reason": (msg.reason + (f" by {msg.by}" if msg.by else "")) if isinstance(msg, RefundRequested)
                        else None})

    def notified_of(self, msg: NotificationRequested) -> None:
        """What the desk shows of a notification: its kind and medium (never the address or the words)."""
        self.notified.add({"notification_id": msg.id, "order_id": msg.order_id, "kind": msg.kind,
                           "medium": msg.medium, "shipment_id": msg.shipment_id})


_VIEW = ("SELECT v.order_id, v.channel, v.external_id, v.status, v.sequence, v.reason, v.shipments, v.returns, "
         "v.tracking_token, v.created_at, v.updated_at FROM order_views v ")


async def order_view(conn: asyncpg.Connection, *, channel: str | None = None, external_id: str | None = None,
                     token: str | None = None, order_id: str | None = None) -> dict[str, Any] | None:
    """One order with its timeline, by its channel's ids, its tracking token or its id."""
    row = await (conn.fetchrow(_VIEW + "WHERE v.tracking_token = $1", token) if token is not None else
                 conn.fetchrow(_VIEW + "WHERE v.order_id = $1", order_id) if order_id is not None else
                 conn.fetchrow(_VIEW + "WHERE v.channel = $1 AND v.external_id = $2", channel, external_id))
    if row is None:
        return None
    steps = await conn.fetch("SELECT sequence, status, previous_status, reason, occurred_at FROM order_timeline "
                             "WHERE order_id = $1 ORDER BY sequence", row["order_id"])
    return {**_decoded(row), "timeline": [_decoded(s) for s in steps]}


async def search(conn: asyncpg.Connection, secret: str, email: str | None, phone: str | None,
                 limit: int = 50) -> list[dict[str, Any]]:
    """Orders of the customer with this e-mail or phone, newest first."""
    wanted = [contact_hash(secret, v) for v in (email, phone) if v]
    rows = await conn.fetch(
        _VIEW + "JOIN contact_hashes c ON c.order_id = v.order_id "
        "WHERE c.email_hash = ANY($1::text[]) OR c.phone_hash = ANY($1::text[]) ORDER BY v.created_at DESC LIMIT $2",
        wanted, limit)
    return [{k: v for k, v in _decoded(r).items() if k != "tracking_token"} for r in rows]


async def desk_search(conn: asyncpg.Connection, secret: str, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """The desk's search box: an order id, a channel's external id, or the customer's e-mail, phone or full name
    (each as written, case and spaces aside), newest first."""
    wanted = contact_hash(secret, text)
    rows = await conn.fetch(
        _VIEW + "LEFT JOIN contact_hashes c ON c.order_id = v.order_id WHERE v.order_id = $1 OR v.external_id = $1 "
        "OR c.email_hash = $2 OR c.phone_hash = $2 OR c.name_hash = $2 ORDER BY v.created_at DESC LIMIT $3",
        text.strip(), wanted, limit)
    return [_decoded(r) for r in rows]


async def same_customer(conn: asyncpg.Connection, order_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The other orders of this order's customer (by e-mail), on any channel, newest first."""
    rows = await conn.fetch(
        _VIEW + "JOIN contact_hashes c ON c.order_id = v.order_id WHERE c.email_hash = "
        "(SELECT email_hash FROM contact_hashes WHERE order_id = $1) AND v.order_id <> $1 "
        "ORDER BY v.created_at DESC LIMIT $2", order_id, limit)
    return [_decoded(r) for r in rows]


async def attention(conn: asyncpg.Connection, limit: int = 30) -> list[dict[str, Any]]:
    """What an agent looks at first: orders on hold, or late (their latest reason says so), not ended."""
    rows = await conn.fetch(
        _VIEW + "WHERE v.status = 'on_hold' OR (v.reason->>'code' IN ('late_to_ship', 'late_delivery') AND v.status "
        "NOT IN ('delivered', 'collected', 'cancelled', 'rejected', 'returned')) ORDER BY v.updated_at LIMIT $1", limit)
    return [_decoded(r) for r in rows]


async def notifications_of(conn: asyncpg.Connection, order_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT notification_id, kind, medium, shipment_id, requested_at FROM order_notifications "
                            "WHERE order_id = $1 ORDER BY requested_at", order_id)
    return [dict(r) for r in rows]


async def money_of(conn: asyncpg.Connection, order_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT kind, amount, currency, reason, shipment_id, asked_at FROM order_money "
                            "WHERE order_id = $1 ORDER BY asked_at", order_id)
    return [dict(r) for r in rows]


def _decoded(row: asyncpg.Record) -> dict[str, Any]:
    return {k: orjson.loads(v) if k in ("reason", "shipments", "returns") and v is not None else v
            for k, v in row.items()}


class Deliveries(Sends):
    """Webhook deliveries to post, and those that are dead."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, OUTGOING, count_success=True)

    async def claim_each(self, now: datetime, subscribers: list[str], each: int) -> list[Row]:
        """Up to `each` due deliveries per subscriber: one with a backlog does not hold back the others."""
        found = []
        for subscriber in subscribers:
            found += await self.claim(now, each, due("subscriber = $1", lambda row, s=subscriber: row["subscriber"] == s,
                                                     (subscriber,)))
        return found

    async def revive(self, now: datetime, subscriber: str | None) -> int:
        """Dead deliveries (of one subscriber, or all) due again, their attempts counted afresh."""
        dead = await self.load(Where("dead_at IS NOT NULL AND sent_at IS NULL AND ($1::text IS NULL OR subscriber = $1)",
                                     lambda row: row["dead_at"] is not None and row["sent_at"] is None
                                     and subscriber in (None, row["subscriber"]), (subscriber,)))
        for row in dead:
            self.save(row["delivery_id"], dead_at=None, attempts=0, next_attempt_at=now)
        return len(dead)


# Deliveries waiting for a subscriber the webhooks file no longer names are dead (`oms webhooks` shows them).
ORPHANED_DELIVERIES = maintenance(
    "webhook_deliveries.dead_without_subscriber",
    "UPDATE webhook_deliveries SET dead_at = now(), last_error = 'no such subscriber any more' "
    "WHERE sent_at IS NULL AND dead_at IS NULL AND subscriber <> ALL($1::text[])")
FORGET_ANSWERED = maintenance("answered_requests.forget", "DELETE FROM answered_requests WHERE keep_until < now()")
