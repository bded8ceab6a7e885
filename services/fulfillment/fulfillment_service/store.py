"""The fulfillment service's repository and unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from contracts.base import Message, SkuQuantity
from contracts.partners import Invoice, ReturnedLine
from fulfillment_service.domain import FulfillmentStatus
from shared.deadlines import passed
from shared.service import Deps
from shared.uow import Database, Row, Rows, Table, UnitOfWork

FULFILLMENTS = Table("fulfillments", ("fulfillment_id",), {
    "fulfillment_id": "text", "order_id": "text", "location_id": "text", "status": "text", "qc_failures": "int",
    "lines": "jsonb", "invoice": "jsonb", "ship_by": "timestamptz", "deadline_at": "timestamptz",
    "accepted_at": "timestamptz", "picked_at": "timestamptz", "packed_at": "timestamptz"},
    reads=("fulfillment_id", "order_id", "location_id", "status", "qc_failures", "lines", "invoice", "deadline_at",
           "accepted_at", "picked_at", "packed_at"),
    updates=("status", "qc_failures", "deadline_at", "lines", "invoice", "accepted_at", "picked_at", "packed_at"))


class Fulfillments(Rows):
    def __init__(self, db: Database) -> None:
        super().__init__(db, FULFILLMENTS)

    def add_fulfillment(self, fulfillment_id: str, order_id: str, location_id: str, lines: list[SkuQuantity],
                        invoice: Invoice, ship_by: datetime, deadline_at: datetime | None) -> bool:
        """False (and nothing written) if the fulfillment was requested before."""
        return self.add({
            "fulfillment_id": fulfillment_id, "order_id": order_id, "location_id": location_id,
            "status": FulfillmentStatus.REQUESTED, "qc_failures": 0,
            "lines": orjson.dumps([line.model_dump() for line in lines]).decode(), "invoice": invoice.model_dump_json(),
            "ship_by": ship_by, "deadline_at": deadline_at, "accepted_at": None, "picked_at": None, "packed_at": None})

    def set_status(self, fulfillment_id: str, status: str, qc_failures: int, at: datetime | None = None) -> None:
        """A fulfillment that got any answer no longer has an acceptance deadline; when it was first accepted, picked
        and packed is kept for the location's scorecard."""
        row = self.rows[(fulfillment_id,)]
        stamps = {f"{step}_at": row.get(f"{step}_at") or (at if status == step else None)
                  for step in (FulfillmentStatus.ACCEPTED, FulfillmentStatus.PICKED, FulfillmentStatus.PACKED)}
        self.save(fulfillment_id, status=status, qc_failures=qc_failures,
                  deadline_at=row["deadline_at"] if status == FulfillmentStatus.REQUESTED else None, **stamps)

    def lines_of(self, fulfillment_id: str) -> list[SkuQuantity]:
        found = self.rows[(fulfillment_id,)]["lines"]
        return [SkuQuantity.model_validate(line) for line in (orjson.loads(found) if isinstance(found, str) else found)]

    def reduce(self, fulfillment_id: str, lines: list[SkuQuantity], invoice: Invoice) -> None:
        """What is left to fulfil after a partial cancel, and its invoice."""
        self.save(fulfillment_id, lines=orjson.dumps([line.model_dump() for line in lines]).decode(),
                  invoice=invoice.model_dump_json())

    def invoice_of(self, fulfillment_id: str) -> Invoice | None:
        found = self.rows[(fulfillment_id,)]["invoice"]
        return Invoice.model_validate_json(found) if isinstance(found, str) else \
            Invoice.model_validate(found) if found else None

    async def expired(self, limit: int) -> list[Row]:
        """Requested and not accepted in time, locked (others' are skipped, not waited for)."""
        return await self.load(passed(FulfillmentStatus.REQUESTED), skip_locked=True, order_by="deadline_at", limit=limit)


RETURNS = Table("returns", ("return_id",), {
    "return_id": "text", "order_id": "text", "location_id": "text", "status": "text", "lines": "jsonb",
    "received": "jsonb"}, updates=("status", "received"), checked=("status",))


class Returns(Rows):
    def __init__(self, db: Database) -> None:
        super().__init__(db, RETURNS)

    def add_return(self, return_id: str, order_id: str, location_id: str, lines: list[SkuQuantity]) -> bool:
        """False (and nothing written) if the location was told of this return before."""
        return self.add({"return_id": return_id, "order_id": order_id, "location_id": location_id,
                         "status": "expected", "lines": orjson.dumps([line.model_dump() for line in lines]).decode(),
                         "received": None})

    def received(self, return_id: str, lines: list[ReturnedLine]) -> None:
        self.save(return_id, status="received",
                  received=orjson.dumps([line.model_dump() for line in lines]).decode())


class FulfillmentWork(UnitOfWork):
    """The fulfillments and returns a batch names, each locked in id order (so two batches never deadlock)."""

    def __init__(self, deps: Deps, db: Database) -> None:
        super().__init__(deps, db)
        self.fulfillments = self.repository(Fulfillments(db))
        self.returns = self.repository(Returns(db))

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.fulfillments.load_keys(str(m.fulfillment_id) for m in messages if hasattr(m, "fulfillment_id"))
        await self.returns.load_keys(str(m.return_id) for m in messages if hasattr(m, "return_id"))
