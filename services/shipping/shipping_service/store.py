"""The shipping service's records, repository and unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from contracts.base import Address, Message
from contracts.order import BookShipment
from contracts.partners import Parcel
from runtime.deadlines import passed
from runtime.repository import Columns, Records
from runtime.tables import Database, Row, Table, Where
from runtime.unit import UnitOfWork
from shipping_service.bootstrap import ShippingDeps
from shipping_service.domain import ShipmentStatus

SHIPMENTS = Table("shipments", ("shipment_id",), {
    "shipment_id": "text", "order_id": "text", "location_id": "text", "service_level": "text", "ship_to": "jsonb",
    "parcels": "jsonb", "status": "text", "tracking_number": "text", "deadline_at": "timestamptz",
    "carrier_id": "text", "tried_carriers": "text[]", "deliver_by": "timestamptz", "delivered_at": "timestamptz",
    "exceptions": "int", "window_from": "timestamptz", "pickup_id": "text", "estimated_delivery": "timestamptz"},
    updates=("status", "tracking_number", "deadline_at", "carrier_id", "tried_carriers", "delivered_at", "exceptions",
             "pickup_id", "estimated_delivery"))
PICKUPS = Table("pickups", ("pickup_id",), {
    "pickup_id": "text", "location_id": "text", "carrier_id": "text", "at": "timestamptz", "status": "text",
    "shipment_ids": "text[]", "parcels": "int", "weight_grams": "int"}, updates=("status",))


@dataclass(slots=True)
class Shipment(Columns):
    """A shipment to book and follow: the carriers asked so far, the one that carries it, where it is."""

    shipment_id: str
    order_id: str
    location_id: str
    service_level: str
    ship_to: str  # the Address, as JSON
    parcels: str  # the Parcels, as JSON
    status: ShipmentStatus
    tracking_number: str | None
    deadline_at: datetime | None  # an answer from `carrier_id` is due by then
    carrier_id: str | None
    tried_carriers: list[str]
    deliver_by: datetime | None
    delivered_at: datetime | None
    exceptions: int
    window_from: datetime | None = None  # a chosen delivery slot: from then to `deliver_by`
    pickup_id: str | None = None  # the pickup it went on (none yet, or that one was missed)
    estimated_delivery: datetime | None = None  # the carrier's, given with its booking

    @classmethod
    def from_row(cls, row: Row) -> Shipment:
        return cls(**{**row, "status": ShipmentStatus(row["status"])})

    def address(self) -> Address:
        return Address.model_validate_json(self.ship_to)

    def parcel_list(self) -> list[Parcel]:
        return [Parcel.model_validate(p) for p in orjson.loads(self.parcels)]


@dataclass(slots=True)
class Pickup(Columns):
    """A carrier pickup asked for, with its manifest, and the carrier's answer (requested, confirmed, missed)."""

    pickup_id: str
    location_id: str
    carrier_id: str
    at: datetime
    status: str
    shipment_ids: list[str]
    parcels: int
    weight_grams: int


class Shipments(Records[Shipment]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, SHIPMENTS, Shipment)

    def add_shipment(self, cmd: BookShipment) -> Shipment | None:
        """A shipment as booking starts (no carrier asked yet); None (and nothing written) if it was booked before."""
        shipment = Shipment(
            shipment_id=cmd.shipment_id, order_id=cmd.order_id, location_id=cmd.location_id,
            service_level=cmd.service_level, ship_to=cmd.ship_to.model_dump_json(),
            parcels=orjson.dumps(cmd.parcels).decode(), status=ShipmentStatus.BOOKING, tracking_number=None,
            deadline_at=None, carrier_id=None, tried_carriers=list(cmd.excluded_carriers),
            deliver_by=cmd.delivery_window.end if cmd.delivery_window else cmd.deliver_by,
            delivered_at=None, exceptions=0,
            window_from=cmd.delivery_window.start if cmd.delivery_window else None)
        return shipment if self.add(shipment) else None

    def booking_sent(self, shipment: Shipment, carrier_id: str, answer_within_s: int, now: datetime) -> None:
        """`now` on the database's clock: the deadline poller compares the deadline with it there."""
        self.save(shipment.shipment_id, status=ShipmentStatus.BOOKING,
                  deadline_at=now + timedelta(seconds=answer_within_s), carrier_id=carrier_id,
                  tried_carriers=[*shipment.tried_carriers, carrier_id])

    def followed(self, shipment: Shipment, carrier_id: str, tracking_number: str) -> None:
        """Handed by its sender to `carrier_id`: nothing to book, nothing to wait for."""
        self.save(shipment.shipment_id, status=ShipmentStatus.PICKED_UP, carrier_id=carrier_id,
                  tracking_number=tracking_number, tried_carriers=[carrier_id])

    def restart_booking(self, shipment_id: str, excluded: list[str]) -> Shipment:
        """A shipment no carrier took starts over: every carrier may be asked again (but `excluded`)."""
        return self.save(shipment_id, status=ShipmentStatus.BOOKING, deadline_at=None, carrier_id=None,
                         tried_carriers=list(excluded))

    def set_status(self, shipment: Shipment, status: ShipmentStatus, tracking_number: str | None,
                   at: datetime | None = None, estimated_delivery: datetime | None = None) -> None:
        """`at`: when the update came (the carrier's scorecard keeps when it was delivered)."""
        delivered = shipment.delivered_at or (at if status == ShipmentStatus.DELIVERED else None)
        self.save(shipment.shipment_id, status=status, tracking_number=tracking_number or shipment.tracking_number,
                  deadline_at=None, delivered_at=delivered,
                  estimated_delivery=estimated_delivery or shipment.estimated_delivery)

    def exception(self, shipment: Shipment) -> None:
        """The carrier reported an exception: counted for its scorecard, the status stays."""
        self.save(shipment.shipment_id, exceptions=shipment.exceptions + 1)

    async def awaiting_pickup(self, location_id: str, carrier_id: str, limit: int) -> list[Shipment]:
        """Shipments booked at the location with the carrier and on no pickup yet, locked (others' skipped)."""
        return await self.load(Where(
            "location_id = $1 AND carrier_id = $2 AND pickup_id IS NULL AND status IN ('booked', 'picked_up')",
            lambda r: (r["location_id"], r["carrier_id"]) == (location_id, carrier_id) and r["pickup_id"] is None
            and r["status"] in ("booked", "picked_up"), (location_id, carrier_id)),
            skip_locked=True, order_by="shipment_id", limit=limit)

    async def expired(self, limit: int) -> list[Shipment]:
        """Bookings a carrier did not answer in time, locked (others' are skipped, not waited for)."""
        return await self.load(passed(ShipmentStatus.BOOKING), skip_locked=True, order_by="deadline_at", limit=limit)


class ShippingWork(UnitOfWork):
    """The shipments a batch names, locked in id order (so two batches never deadlock)."""

    deps: ShippingDeps

    def __init__(self, deps: ShippingDeps, db: Database) -> None:
        super().__init__(deps, db)
        self.shipments = self.repository(Shipments(db))
        self.pickups = self.repository(Records(db, PICKUPS, Pickup))

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.shipments.load_keys(str(m.shipment_id) for m in messages if hasattr(m, "shipment_id"))
