"""The shipping service's repository and unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from contracts.base import Message
from contracts.order import BookShipment
from shared.deadlines import passed
from shared.service import Deps
from shared.uow import Database, Row, Rows, Table, UnitOfWork
from shipping_service.domain import ShipmentStatus

SHIPMENTS = Table("shipments", ("shipment_id",), {
    "shipment_id": "text", "order_id": "text", "location_id": "text", "service_level": "text", "ship_to": "jsonb",
    "parcels": "jsonb", "status": "text", "tracking_number": "text", "deadline_at": "timestamptz",
    "carrier_id": "text", "tried_carriers": "text[]", "deliver_by": "timestamptz", "delivered_at": "timestamptz",
    "exceptions": "int"},
    updates=("status", "tracking_number", "deadline_at", "carrier_id", "tried_carriers", "delivered_at", "exceptions"))


class Shipments(Rows):
    def __init__(self, db: Database) -> None:
        super().__init__(db, SHIPMENTS)

    def add_shipment(self, cmd: BookShipment) -> Row | None:
        """A shipment as booking starts (no carrier asked yet); None (and nothing written) if it was booked before."""
        row: dict[str, Any] = {
            "shipment_id": cmd.shipment_id, "order_id": cmd.order_id, "location_id": cmd.location_id,
            "service_level": cmd.service_level, "ship_to": cmd.ship_to.model_dump_json(),
            "parcels": orjson.dumps(cmd.parcels).decode(), "status": ShipmentStatus.BOOKING, "tracking_number": None,
            "deadline_at": None, "carrier_id": None, "tried_carriers": list(cmd.excluded_carriers),
            "deliver_by": cmd.deliver_by, "delivered_at": None, "exceptions": 0}
        return row if self.add(row) else None

    def booking_sent(self, shipment_id: str, carrier_id: str, answer_within_s: int, now: datetime) -> None:
        """`now` on the database's clock: the deadline poller compares the deadline with it there."""
        row = self.rows[(shipment_id,)]
        self.save(shipment_id, status=ShipmentStatus.BOOKING, deadline_at=now + timedelta(seconds=answer_within_s),
                  carrier_id=carrier_id, tried_carriers=[*row["tried_carriers"], carrier_id])

    def restart_booking(self, shipment_id: str, excluded: list[str]) -> Row:
        """A shipment no carrier took starts over: every carrier may be asked again (but `excluded`)."""
        return self.save(shipment_id, status=ShipmentStatus.BOOKING, deadline_at=None, carrier_id=None,
                         tried_carriers=list(excluded))

    def set_status(self, shipment_id: str, status: str, tracking_number: str | None, at: datetime | None = None
                   ) -> None:
        """`at`: when the update came (the carrier's scorecard keeps when it was delivered)."""
        row = self.rows[(shipment_id,)]
        delivered = row.get("delivered_at") or (at if status == ShipmentStatus.DELIVERED else None)
        self.save(shipment_id, status=status, tracking_number=tracking_number or row["tracking_number"],
                  deadline_at=None, delivered_at=delivered)

    def exception(self, shipment_id: str) -> None:
        """The carrier reported an exception: counted for its scorecard, the status stays."""
        self.save(shipment_id, exceptions=(self.rows[(shipment_id,)].get("exceptions") or 0) + 1)

    async def expired(self, limit: int) -> list[Row]:
        """Bookings a carrier did not answer in time, locked (others' are skipped, not waited for)."""
        return await self.load(passed(ShipmentStatus.BOOKING), skip_locked=True, order_by="deadline_at", limit=limit)


class ShippingWork(UnitOfWork):
    """The shipments a batch names, locked in id order (so two batches never deadlock)."""

    def __init__(self, deps: Deps, db: Database) -> None:
        super().__init__(deps, db)
        self.shipments = self.repository(Shipments(db))

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.shipments.load_keys(str(getattr(m, "shipment_id")) for m in messages)  # noqa: B009
