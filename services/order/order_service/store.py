"""The order service's repository: orders with their saga, lines and timeline, and its unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.base import Message
from contracts.channels import ChannelMessage, Customer, OrderSubmitted
from contracts.order import SHIPMENT_VIEWS, OrderStatusChanged
from order_service import domain
from order_service.saga import Saga, promise_due
from runtime.deadlines import passed
from runtime.deps import Deps
from runtime.maintenance import maintenance
from runtime.repository import Columns, Records, Rows
from runtime.tables import Changes, Database, Row, Table, Where
from runtime.unit import UnitOfWork

ORDERS = Table("orders", ("order_id",), {
    "order_id": "text", "channel": "text", "external_id": "text", "placed_at": "timestamptz", "currency": "text",
    "customer": "jsonb", "shipping_address": "jsonb", "payment": "jsonb", "status": "text", "saga_state": "text",
    "saga": "text", "sequence": "int", "deadline_at": "timestamptz", "promise_at": "timestamptz"},
    reads=("order_id", "channel", "external_id", "customer", "status", "saga_state", "saga", "sequence",
           "deadline_at", "promise_at", "created_at"),
    updates=("status", "saga_state", "saga", "sequence", "deadline_at", "promise_at"),
    unique=(("channel", "external_id"),))
LINES = Table("order_lines", ("order_id", "line_no"), {
    "order_id": "text", "line_no": "int", "sku": "text", "quantity": "int", "unit_price": "numeric"})
TIMELINE = Table("order_timeline", ("order_id", "sequence"), {
    "order_id": "text", "sequence": "int", "status": "text", "previous_status": "text", "reason": "jsonb",
    "shipments": "jsonb", "occurred_at": "timestamptz"})
DOCUMENTS = Table("documents", ("document_id",), {
    "document_id": "text", "channel": "text", "kind": "text", "order_id": "text", "shipment_id": "text",
    "return_id": "text", "amount": "numeric", "currency": "text", "body": "jsonb", "issued_at": "timestamptz"},
    unique=(("channel", "kind", "number"),))  # `number` is given later, by the numbering round
REJECTED = "{}"  # the saga of an order rejected before it had one
# one round at a time (every instance runs it): numbers follow the order documents were issued in, without gaps
NUMBERING_LOCK = "SELECT pg_advisory_xact_lock(hashtext('documents.number'))"
NUMBER_DOCUMENTS = maintenance("documents.number", """
WITH todo AS (
    SELECT document_id, channel, kind,
           row_number() OVER (PARTITION BY channel, kind ORDER BY issued_at, document_id) AS n
    FROM documents WHERE number IS NULL),
last AS (
    SELECT g.channel, g.kind, coalesce((SELECT max(x.number) FROM documents x
                                        WHERE x.channel = g.channel AND x.kind = g.kind), 0) AS number
    FROM (SELECT DISTINCT channel, kind FROM todo) g)
UPDATE documents d SET number = last.number + todo.n
FROM todo JOIN last USING (channel, kind)
WHERE d.document_id = todo.document_id""")


@dataclass(slots=True)
class Order(Columns):
    """An order: who placed it where, its status and its saga (parsed once per unit of work, when first asked for)."""

    order_id: str
    channel: str
    external_id: str
    customer: str | None  # the Customer, as JSON (None for an order rejected before it had one)
    status: str
    saga_state: str
    saga: str | Saga  # as JSON until parsed
    sequence: int
    deadline_at: datetime | None
    promise_at: datetime | None
    created_at: datetime | None = None
    placed_at: datetime | None = None  # written, not read back
    currency: str | None = None
    shipping_address: str | None = None
    payment: str | None = None

    def customer_model(self) -> Customer:
        assert self.customer is not None
        return Customer.model_validate_json(self.customer)


class Orders(Records[Order]):
    """A unit of work's orders: read and locked once, each saga parsed once and turned back into JSON once however
    many of the batch's messages moved it; new orders with their lines, and a timeline row per status change."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, ORDERS, Order)
        self.lines = Rows(db, LINES)
        self.timeline = Rows(db, TIMELINE)
        self.documents = Rows(db, DOCUMENTS)

    def saga(self, order: Order) -> Saga | None:
        """The order's saga (None for an order rejected before it had one)."""
        if isinstance(order.saga, Saga):
            return order.saga
        if order.saga == REJECTED:
            return None
        order.saga = Saga.model_validate_json(order.saga)
        return order.saga

    def add_order(self, msg: OrderSubmitted, saga: Saga, sequence: int, deadline_at: datetime | None,
                  events: list[OrderStatusChanged]) -> bool:
        """False (and nothing written) when the order is known: a second submission is the same order."""
        if not self.add(Order(
                order_id=saga.order_id, channel=msg.channel, external_id=msg.external_id, placed_at=msg.placed_at,
                currency=msg.currency, customer=msg.customer.model_dump_json(),
                shipping_address=msg.shipping_address.model_dump_json(),
                payment=msg.payment.model_dump_json() if msg.payment else None, status=saga.status or "received",
                saga_state=saga.state, saga=saga, sequence=sequence, deadline_at=deadline_at, promise_at=None)):
            return False
        for n, line in enumerate(msg.lines, 1):
            self.lines.append({"order_id": saga.order_id, "line_no": n, "sku": line.sku, "quantity": line.quantity,
                               "unit_price": Decimal(line.unit_price)})
        self._record(events)
        return True

    def add_rejected(self, order_id: str, channel: str, external_id: str, event: OrderStatusChanged) -> bool:
        """An order that never had a saga: its row and its one status change; False if the order is known."""
        if not self.add(Order(order_id=order_id, channel=channel, external_id=external_id, customer=None,
                              status="rejected", saga_state="rejected", saga=REJECTED, sequence=event.sequence,
                              deadline_at=None, promise_at=None)):
            return False
        self._record([event])
        return True

    def save_saga(self, saga: Saga, sequence: int, deadline_at: datetime | None,
                  events: list[OrderStatusChanged], exact_promise: bool = False) -> None:
        """The saga and status, and a timeline row per status change. When its next promise falls due is moved only
        to an earlier time (or by the promise watcher, `exact_promise`): most steps then rewrite the row in place,
        touching no index, and the watcher finds a time that passed with nothing due and moves it on."""
        due, stored = promise_due(saga), self.rows[(saga.order_id,)].promise_at
        if not exact_promise and stored is not None and (due is None or due >= stored):
            due = stored
        self.save(saga.order_id, status=saga.status or "received", saga_state=saga.state, saga=saga,
                  sequence=sequence, deadline_at=deadline_at, promise_at=due)
        self._record(events)

    async def expired(self, limit: int) -> list[Order]:
        """Orders whose saga is past its deadline, locked (others' are skipped, not waited for)."""
        return await self.load(passed(), skip_locked=True, order_by="deadline_at", limit=limit)

    async def promises_due(self, limit: int) -> list[Order]:
        """Orders with a promise past its time, locked (others' are skipped, not waited for)."""
        def test(row: Row) -> bool:
            due = row["promise_at"]
            return due is not None and due < datetime.now(due.tzinfo)
        return await self.load(Where("promise_at < now()", test), skip_locked=True, order_by="promise_at",
                               limit=limit)

    def issue(self, channel: str, request: Message, at: datetime) -> None:
        """A capture's invoice or a refund's credit note, numbered later (`NUMBER_DOCUMENTS`)."""
        body = request.model_dump(mode="json")
        self.documents.append({
            "document_id": request.id, "channel": channel,
            "kind": "invoice" if body["type"] == "payment.capture_requested" else "credit_note",
            "order_id": body["order_id"], "shipment_id": body.get("shipment_id"), "return_id": body.get("return_id"),
            "amount": Decimal(body["amount"]), "currency": body["currency"], "body": request.model_dump_json(),
            "issued_at": at})

    def _record(self, events: list[OrderStatusChanged]) -> None:
        for e in events:
            self.timeline.append({
                "order_id": e.order_id, "sequence": e.sequence, "status": e.status,
                "previous_status": e.previous_status, "reason": e.reason.model_dump_json() if e.reason else None,
                "shipments": SHIPMENT_VIEWS.dump_json(e.shipments).decode(),
                "occurred_at": e.occurred_at})

    def encode(self, item: Order) -> Row:
        row = super().encode(item)
        if isinstance(item.saga, Saga):
            row["saga"] = item.saga.model_dump_json()
        return row

    def changes(self) -> list[Changes]:
        return [*super().changes(), *self.lines.changes(), *self.timeline.changes(), *self.documents.changes()]


def order_id_of(message: Message) -> str | None:
    """The order a message is about (None: a promise request or its quote, about no order)."""
    if isinstance(message, ChannelMessage):
        return domain.order_id_for(message.channel, message.external_id)
    return getattr(message, "order_id", None)


class OrderWork(UnitOfWork):
    """The order service's unit of work: the orders its messages name, locked in id order (so the two consumers'
    batches never deadlock on them)."""

    def __init__(self, deps: Deps, db: Database) -> None:
        super().__init__(deps, db)
        self.orders = self.repository(Orders(db))

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.orders.load_keys(order_id for m in messages if (order_id := order_id_of(m)) is not None)

