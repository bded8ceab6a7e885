"""The fulfillment service's records, repositories and unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from contracts.base import Message, SkuQuantity
from contracts.partners import Invoice, ReturnedLine
from fulfillment_service.domain import FulfillmentStatus
from runtime.deadlines import passed
from runtime.deps import Deps
from runtime.repository import Columns, Records
from runtime.tables import Database, Row, Table
from runtime.unit import UnitOfWork

FULFILLMENTS = Table("fulfillments", ("fulfillment_id",), {
    "fulfillment_id": "text", "order_id": "text", "location_id": "text", "status": "text", "qc_failures": "int",
    "lines": "jsonb", "invoice": "jsonb", "ship_by": "timestamptz", "deadline_at": "timestamptz",
    "accepted_at": "timestamptz", "picked_at": "timestamptz", "packed_at": "timestamptz"},
    reads=("fulfillment_id", "order_id", "location_id", "status", "qc_failures", "lines", "invoice", "deadline_at",
           "accepted_at", "picked_at", "packed_at"),
    updates=("status", "qc_failures", "deadline_at", "lines", "invoice", "accepted_at", "picked_at", "packed_at"))


@dataclass(slots=True)
class Fulfillment(Columns):
    """What one location was asked to ship, where it has got to, and when it first accepted, picked and packed."""

    fulfillment_id: str
    order_id: str
    location_id: str
    status: FulfillmentStatus
    qc_failures: int
    lines: str | list[Any]  # the SkuQuantity lines, as JSON
    invoice: str | dict[str, Any] | None  # the Invoice, as JSON
    deadline_at: datetime | None  # an acceptance is due by then
    accepted_at: datetime | None
    picked_at: datetime | None
    packed_at: datetime | None
    ship_by: datetime | None = None  # written, not read back

    @classmethod
    def from_row(cls, row: Row) -> Fulfillment:
        return cls(**{**row, "status": FulfillmentStatus(row["status"])})

    def line_list(self) -> list[SkuQuantity]:
        found = orjson.loads(self.lines) if isinstance(self.lines, str) else self.lines
        return [SkuQuantity.model_validate(line) for line in found]

    def invoice_model(self) -> Invoice | None:
        if isinstance(self.invoice, str):
            return Invoice.model_validate_json(self.invoice)
        return Invoice.model_validate(self.invoice) if self.invoice else None


class Fulfillments(Records[Fulfillment]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, FULFILLMENTS, Fulfillment)

    def add_fulfillment(self, fulfillment_id: str, order_id: str, location_id: str, lines: list[SkuQuantity],
                        invoice: Invoice, ship_by: datetime, deadline_at: datetime | None) -> bool:
        """False (and nothing written) if the fulfillment was requested before."""
        return self.add(Fulfillment(
            fulfillment_id=fulfillment_id, order_id=order_id, location_id=location_id,
            status=FulfillmentStatus.REQUESTED, qc_failures=0,
            lines=orjson.dumps([line.model_dump() for line in lines]).decode(), invoice=invoice.model_dump_json(),
            ship_by=ship_by, deadline_at=deadline_at, accepted_at=None, picked_at=None, packed_at=None))

    def set_status(self, fulfillment: Fulfillment, status: FulfillmentStatus, qc_failures: int,
                   at: datetime | None = None) -> None:
        """A fulfillment that got any answer no longer has an acceptance deadline; when it was first accepted, picked
        and packed is kept for the location's scorecard."""
        self.save(fulfillment.fulfillment_id, status=status, qc_failures=qc_failures,
                  deadline_at=fulfillment.deadline_at if status == FulfillmentStatus.REQUESTED else None,
                  accepted_at=fulfillment.accepted_at or (at if status == FulfillmentStatus.ACCEPTED else None),
                  picked_at=fulfillment.picked_at or (at if status == FulfillmentStatus.PICKED else None),
                  packed_at=fulfillment.packed_at or (at if status == FulfillmentStatus.PACKED else None))

    def reduce(self, fulfillment_id: str, lines: list[SkuQuantity], invoice: Invoice) -> None:
        """What is left to fulfil after a partial cancel, and its invoice."""
        self.save(fulfillment_id, lines=orjson.dumps([line.model_dump() for line in lines]).decode(),
                  invoice=invoice.model_dump_json())

    async def expired(self, limit: int) -> list[Fulfillment]:
        """Requested and not accepted in time, locked (others' are skipped, not waited for)."""
        return await self.load(passed(FulfillmentStatus.REQUESTED), skip_locked=True, order_by="deadline_at", limit=limit)


TRANSFERS = Table("transfers", ("transfer_id",), {
    "transfer_id": "text", "sku": "text", "quantity": "int", "from_location_id": "text", "to_location_id": "text",
    "status": "text"}, updates=("status",), checked=("status",))


@dataclass(slots=True)
class Transfer(Columns):
    """A transfer handed to its source location: `requested`, `shipped`, `received`."""

    transfer_id: str
    sku: str
    quantity: int
    from_location_id: str
    to_location_id: str
    status: str


RETURNS = Table("returns", ("return_id",), {
    "return_id": "text", "order_id": "text", "location_id": "text", "status": "text", "lines": "jsonb",
    "received": "jsonb"}, updates=("status", "received"), checked=("status",))


@dataclass(slots=True)
class Return(Columns):
    """A return a location was told to expect, and what it said arrived."""

    return_id: str
    order_id: str
    location_id: str
    status: str  # expected, received
    lines: str | list[Any]
    received: str | list[Any] | None


class Returns(Records[Return]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, RETURNS, Return)

    def add_return(self, return_id: str, order_id: str, location_id: str, lines: list[SkuQuantity]) -> bool:
        """False (and nothing written) if the location was told of this return before."""
        return self.add(Return(return_id=return_id, order_id=order_id, location_id=location_id, status="expected",
                               lines=orjson.dumps([line.model_dump() for line in lines]).decode(), received=None))

    def received(self, return_id: str, lines: list[ReturnedLine]) -> None:
        self.save(return_id, status="received",
                  received=orjson.dumps([line.model_dump() for line in lines]).decode())


class FulfillmentWork(UnitOfWork):
    """The fulfillments and returns a batch names, each locked in id order (so two batches never deadlock)."""

    def __init__(self, deps: Deps, db: Database) -> None:
        super().__init__(deps, db)
        self.fulfillments = self.repository(Fulfillments(db))
        self.returns = self.repository(Returns(db))
        self.transfers = self.repository(Records(db, TRANSFERS, Transfer))

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.fulfillments.load_keys(str(m.fulfillment_id) for m in messages if hasattr(m, "fulfillment_id"))
        await self.returns.load_keys(str(m.return_id) for m in messages if hasattr(m, "return_id"))
        await self.transfers.load_keys(str(m.transfer_id) for m in messages if hasattr(m, "transfer_id"))
