"""Inventory's repositories (stock rows, reservations, backorders, the ledger) and its unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

import orjson

from contracts import topics
from contracts.base import Message
from contracts.fulfillment import PartnerScored
from contracts.inventory import StockAvailabilityChanged
from contracts.order import CommitStock, ReleaseStock, ReserveStock, Restock
from inventory_service import domain
from inventory_service.bootstrap import InventoryDeps
from inventory_service.domain import Level, Standing
from rules.inbound import Inbound
from rules.scorecards import weighed
from runtime.maintenance import maintenance
from runtime.repository import Columns, Records, Rows
from runtime.tables import Changes, Database, Row, Table, Where, by
from runtime.unit import UnitOfWork

STOCK = Table("stock", ("sku", "location_id"), {
    "sku": "text", "location_id": "text", "on_hand": "int", "reserved": "int", "inbound": "int"},
    updates=("on_hand", "reserved", "inbound"), checked=("on_hand", "reserved"))
RESERVATIONS = Table("reservations", ("reservation_id",), {
    "reservation_id": "text", "order_id": "text", "location_id": "text", "status": "text"},
    updates=("status",), checked=("status",), touch=False)
RESERVATION_LINES = Table("reservation_lines", ("reservation_id", "sku"), {
    "reservation_id": "text", "sku": "text", "quantity": "int"}, updates=("quantity",), touch=False)
BACKORDERS = Table("backorders", ("order_id",), {"order_id": "text", "command": "jsonb"}, insert_checked=False, touch=False,
                   updates=("command",))
LEDGER = Table("stock_ledger", ("id",), {
    "sku": "text", "location_id": "text", "kind": "text", "quantity": "int", "message_id": "text"})


SCORES = Table("partner_scores", ("partner_id",), {"partner_id": "text", "kind": "text", "failure_rate": "float8",
                                                  "requests": "int", "open_requests": "int", "card": "jsonb",
                                                  "scored_at": "timestamptz"},
               updates=("kind", "failure_rate", "requests", "open_requests", "card", "scored_at"))
LOCATION_STATUS = Table("location_status", ("location_id",), {
    "location_id": "text", "paused": "bool", "reason": "text", "day": "date", "allocated": "int"},
    updates=("paused", "reason", "day", "allocated"), checked=("day", "allocated"))
DECISIONS = Table("allocation_decisions", ("id",), {
    "order_id": "text", "request_id": "text", "channel": "text", "chosen": "text", "plan": "jsonb",
    "alternatives": "jsonb", "inputs": "jsonb"})
QUOTES = Table("quotes", ("quote_id",), {
    "quote_id": "text", "request_id": "text", "channel": "text", "method": "text", "service_level": "text",
    "plan": "jsonb", "promised_by": "timestamptz", "expires_at": "timestamptz"}, touch=False)
FORGET_QUOTES = maintenance("quotes.forget", "DELETE FROM quotes WHERE expires_at < now() - interval '1 day'")
SLOTS = Table("delivery_slots", ("carrier_id", "zone", "starts_at"), {
    "carrier_id": "text", "zone": "text", "starts_at": "timestamptz", "claimed": "int"},
    updates=("claimed",), checked=("claimed",), touch=False)
SLOT_CLAIMS = Table("slot_claims", ("order_id",), {
    "order_id": "text", "carrier_id": "text", "zone": "text", "starts_at": "timestamptz", "ends_at": "timestamptz"},
    touch=False)
INBOUND = Table("inbound_expected", ("expected_id",), {
    "expected_id": "text", "sku": "text", "location_id": "text", "quantity": "int", "eta": "timestamptz",
    "po_id": "text", "closed_at": "timestamptz"}, updates=("closed_at", "quantity", "eta"), touch=False,
    insert_checked=False)
TRANSFERS = Table("transfers", ("transfer_id",), {
    "transfer_id": "text", "sku": "text", "quantity": "int", "from_location_id": "text", "to_location_id": "text",
    "status": "text", "shipped": "int", "received": "int", "eta": "timestamptz", "reason": "text",
    "requested_by": "text"}, updates=("status", "shipped", "received", "eta"), checked=("status",))


SOLD = Table("stock_ledger", ("id",), {"id": "bigint", "sku": "text", "location_id": "text", "kind": "text",
                                       "quantity": "int", "recorded_at": "timestamptz"})  # read: what sold


@dataclass(slots=True)
class Transfer(Columns):
    """Units on their way from one location to another: `requested` (held back at the source), `shipped`,
    `received`, or `refused`."""

    transfer_id: str
    sku: str
    quantity: int
    from_location_id: str
    to_location_id: str
    status: str
    shipped: int | None = None
    received: int | None = None
    eta: datetime | None = None
    reason: str | None = None
    requested_by: str | None = None


class Stock(Rows):
    """Every location's row of the SKUs the unit touches, locked in (sku, location) order."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, STOCK)
        self.by_sku: dict[str, dict[tuple[str, str], None]] = {}
        self.ledger = Rows(db, LEDGER)
        self.inbound = Rows(db, INBOUND)
        self.inbound_read: set[str] = set()  # the SKUs whose open inbound rows the unit holds
        self.inbound_as_read: dict[tuple[str, str], int] = {}  # the `inbound` level of each stock row as read

    async def levels(self, skus: Iterable[str]) -> dict[tuple[str, str], Level]:
        """The levels of these SKUs wherever a row exists, by (location, sku); read and locked once per unit."""
        skus = set(skus)
        missing = sorted(skus - self.by_sku.keys())
        if missing:
            for sku in missing:
                self.by_sku[sku] = {}
            for row in await self.load(by("sku", missing), order_by="sku, location_id"):
                self.by_sku[row["sku"]][(row["sku"], row["location_id"])] = None
                self.inbound_as_read[(row["sku"], row["location_id"])] = row["inbound"]
        return {(k[1], k[0]): _level(self.rows[k]) for sku in skus for k in self.by_sku[sku]}

    async def level(self, sku: str, location_id: str) -> Level:
        """The level of this SKU at this location: a new row (nothing on hand) where there is none."""
        found = (await self.levels([sku])).get((location_id, sku))
        if found is not None:
            return found
        self.add({"sku": sku, "location_id": location_id, "on_hand": 0, "reserved": 0, "inbound": 0})
        self.by_sku[sku][(sku, location_id)] = None
        return Level(sku, location_id)

    def as_read(self, sku: str) -> dict[str, Level]:
        """This SKU's levels by location as the unit read them (a row it added had nothing)."""
        return {k[1]: Level(sku, k[1], self.was[k]["on_hand"], self.was[k]["reserved"],
                            self.inbound_as_read.get(k, 0))
                for k in self.by_sku.get(sku, ()) if k in self.was}

    def now(self, sku: str) -> dict[str, Level]:
        """This SKU's levels by location as the unit leaves them."""
        return {k[1]: _level(self.rows[k]) for k in self.by_sku.get(sku, ())}

    async def glance(self, skus: Iterable[str]) -> dict[tuple[str, str], int]:
        """Units available of these SKUs by (location, sku), read without a lock (a quote changes nothing): as this
        unit holds them where it read them already."""
        skus = set(skus)
        held = {sku for sku in skus if sku in self.by_sku}
        found = {(k[1], k[0]): _level(self.rows[k]).available for sku in held for k in self.by_sku[sku]}
        if skus - held:
            rows = await self.db.read(STOCK, by("sku", sorted(skus - held)), lock=False, order_by="sku, location_id")
            found |= {(row["location_id"], row["sku"]): _level(row).available for row in rows}
        return found

    async def available_at(self, location_id: str) -> list[str]:
        """The SKUs with units available at a location (read without a lock: `levels` locks what is then used)."""
        rows = await self.db.read(STOCK, Where("location_id = $1 AND on_hand > reserved",
                                               lambda r: r["location_id"] == location_id and r["on_hand"] > r["reserved"],
                                               (location_id,)), lock=False, order_by="sku, location_id")
        return sorted({row["sku"] for row in rows})

    def set(self, level: Level) -> None:
        self.save((level.sku, level.location_id), on_hand=level.on_hand, reserved=level.reserved,
                  inbound=level.inbound)

    def record(self, level: Level, kind: str, quantity: int, message_id: str) -> None:
        """A change of on-hand in the ledger: counted + adjusted + received + returned - written off - shipped = on
        hand."""
        self.ledger.append({"sku": level.sku, "location_id": level.location_id, "kind": kind, "quantity": quantity,
                            "message_id": message_id})

    def expect(self, expected_id: str, sku: str, location_id: str, quantity: int, eta: datetime,
               po_id: str | None = None) -> None:
        """Units on their way (`expected_id`: the message that said so, or the transfer), until they arrive."""
        self.inbound.add({"expected_id": expected_id, "sku": sku, "location_id": location_id, "quantity": quantity,
                          "eta": eta, "po_id": po_id, "closed_at": None})

    async def short_or_spare(self, reorder_at_most: int) -> dict[tuple[str, str], int]:
        """Units available by (location, sku) of the SKUs some location has at most `reorder_at_most` of (read
        without a lock: a transfer proposed from them locks what it then holds back)."""
        low = await self.db.read(STOCK, Where("on_hand - reserved <= $1", lambda r: r["on_hand"] - r["reserved"] <=
                                              reorder_at_most, (reorder_at_most,)), lock=False)
        skus = sorted({row["sku"] for row in low})
        rows = await self.db.read(STOCK, by("sku", skus), lock=False) if skus else []
        return {(row["location_id"], row["sku"]): _level(row).available for row in rows}

    async def sold_since(self, skus: Iterable[str], since: datetime) -> dict[tuple[str, str], int]:
        """Units shipped of these SKUs by (location, sku) since then."""
        skus = sorted(set(skus))
        rows = await self.db.read(SOLD, Where(
            "kind = 'shipped' AND sku = ANY($1::text[]) AND recorded_at >= $2",
            lambda r: r["kind"] == "shipped" and r["sku"] in skus and r["recorded_at"] >= since, (skus, since)),
            lock=False) if skus else []
        sold: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row["location_id"], row["sku"])
            sold[key] = sold.get(key, 0) - row["quantity"]
        return sold

    async def open_inbound(self, skus: Iterable[str]) -> list[Inbound]:
        """What is on its way of these SKUs and not yet arrived, as the unit leaves it (read once per SKU)."""
        skus = set(skus)
        missing = sorted(skus - self.inbound_read)
        if missing:
            self.inbound_read.update(missing)
            await self.inbound.load(Where("sku = ANY($1::text[]) AND closed_at IS NULL",
                                          lambda r: r["sku"] in missing and r["closed_at"] is None, (missing,)))
        return [Inbound(row["expected_id"], row["sku"], row["quantity"], row["eta"], row["location_id"])
                for row in self.inbound.rows.values()
                if row["sku"] in skus and row["closed_at"] is None and row["quantity"] > 0]

    async def inbound_line(self, expected_id: str) -> tuple[int, bool] | None:
        """A line expected: its quantity and whether it arrived (closed), or None."""
        row = await self.inbound.get(expected_id)
        return (row["quantity"], row["closed_at"] is not None) if row is not None else None

    async def close_inbound(self, po_id: str, now: datetime, sku: str | None = None,
                            location_id: str | None = None, received: int | None = None) -> None:
        """What a purchase order or transfer was expected to bring arrived (of one SKU at one location, if named;
        `received` units of it: the line waits on for the rest): its rows closed (their ETAs no longer count)."""
        for row in await self.inbound.load(Where(
                "po_id = $1 AND closed_at IS NULL AND ($2::text IS NULL OR sku = $2) AND "
                "($3::text IS NULL OR location_id = $3)",
                lambda r: r["po_id"] == po_id and r["closed_at"] is None and sku in (None, r["sku"])
                and location_id in (None, r["location_id"]), (po_id, sku, location_id))):
            left = row["quantity"] - received if received is not None else 0
            if left > 0:
                self.inbound.save(row["expected_id"], quantity=left)
            else:
                self.inbound.save(row["expected_id"], closed_at=now)

    def changes(self) -> list[Changes]:
        return [*super().changes(), *self.ledger.changes(), *self.inbound.changes()]


def _level(row: Row) -> Level:
    return Level(row["sku"], row["location_id"], row["on_hand"], row["reserved"], row["inbound"])


@dataclass(slots=True)
class Reservation(Columns):
    reservation_id: str
    order_id: str
    location_id: str
    status: str  # open, released, committed


@dataclass(slots=True)
class ReservationLine(Columns):
    reservation_id: str
    sku: str
    quantity: int


class HeldLine(NamedTuple):
    """Units an open reservation holds of a SKU, and where."""

    reservation_id: str
    sku: str
    quantity: int
    location_id: str


class Reservations(Records[Reservation]):
    """Reservations with their lines; the open ones of the orders a unit finishes read once, without locks (closing
    one checks it is still open)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, RESERVATIONS, Reservation)
        self.lines = Records(db, RESERVATION_LINES, ReservationLine)
        self.read_for: set[str] = set()
        self.of_order: dict[str, list[str]] = {}  # order id -> its reservations' ids
        self.lines_of: dict[str, list[ReservationLine]] = {}  # reservation id -> its lines

    async def load_open(self, order_ids: Iterable[str]) -> set[str]:
        """Reads the open reservations of these orders (those not read yet); returns the SKUs they hold."""
        orders = set(order_ids)
        wanted = sorted(orders - self.read_for)
        if not wanted:
            return set()
        self.read_for.update(wanted)
        found = set(wanted)
        reservations = await self.load(Where("order_id = ANY($1::text[]) AND status = 'open'",
                                             lambda row: row["order_id"] in found and row["status"] == "open",
                                             (wanted,)), lock=False)
        for reservation in reservations:
            self.of_order.setdefault(reservation.order_id, []).append(reservation.reservation_id)
        if not reservations:
            return set()
        lines = await self.lines.load(by("reservation_id", [r.reservation_id for r in reservations]), lock=False)
        for line in lines:
            self.lines_of.setdefault(line.reservation_id, []).append(line)
        return {line.sku for line in lines}

    async def open_lines(self, order_id: str, reservation_id: str | None) -> list[HeldLine]:
        """The order's open reservation lines (of one reservation, if given), in (sku, location) order."""
        await self.load_open([order_id])
        found = []
        for rid in self.of_order.get(order_id, ()):
            reservation = self.rows[(rid,)]
            if reservation.status == "open" and reservation_id in (None, rid):
                found += [HeldLine(rid, line.sku, line.quantity, reservation.location_id)
                          for line in self.lines_of.get(rid, ())]
        return sorted(found, key=lambda line: (line.sku, line.location_id))

    def add_reservation(self, reservation_id: str, order_id: str, location_id: str, lines: dict[str, int]) -> None:
        self.add(Reservation(reservation_id, order_id, location_id, "open"))
        self.of_order.setdefault(order_id, []).append(reservation_id)
        for sku, quantity in lines.items():
            line = ReservationLine(reservation_id, sku, quantity)
            self.lines.add(line)
            self.lines_of.setdefault(reservation_id, []).append(line)

    def take(self, reservation_id: str, sku: str, quantity: int) -> None:
        """`quantity` units of a line no longer held (the line gone when none is left)."""
        line = self.lines.rows[(reservation_id, sku)]
        if line.quantity > quantity:
            self.lines.save((reservation_id, sku), quantity=line.quantity - quantity)
            return
        self.lines.remove((reservation_id, sku))
        self.lines_of[reservation_id] = [kept for kept in self.lines_of[reservation_id] if kept.sku != sku]

    def close(self, reservation_ids: Iterable[str], status: str) -> None:
        for reservation_id in reservation_ids:
            self.save(reservation_id, status=status)

    def changes(self) -> list[Changes]:
        return [*super().changes(), *self.lines.changes()]


@dataclass(slots=True)
class Score(Columns):
    """A partner's latest scorecard, as allocation weighs it."""

    partner_id: str
    kind: str  # location, carrier
    failure_rate: float
    requests: int
    open_requests: int | None
    card: str  # the PartnerScored, as JSON
    scored_at: datetime


class Scores(Records[Score]):
    """The partners' latest scorecards: read whole, without a lock (a score that lands meanwhile weighs from the
    next unit on)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, SCORES, Score)

    async def standings(self) -> dict[str, Standing]:
        scores = await self.load(Where("true", lambda row: True), lock=False)
        return {score.partner_id: Standing(weighed(float(score.failure_rate), score.requests), score.open_requests or 0)
                for score in scores if score.kind == "location"}

    async def record(self, card: PartnerScored) -> None:
        """The scorecard, unless a later one is kept already."""
        score = Score(partner_id=card.partner_id, kind=card.kind, failure_rate=card.failure_rate,
                      requests=card.requests, open_requests=card.open_requests or 0, card=card.model_dump_json(),
                      scored_at=card.scored_at)
        kept = await self.get(card.partner_id)
        if kept is None:
            self.add(score)
        elif kept.scored_at < card.scored_at:
            self.save(card.partner_id, kind=score.kind, failure_rate=score.failure_rate, requests=score.requests,
                      open_requests=score.open_requests, card=score.card, scored_at=score.scored_at)


@dataclass(slots=True)
class Location(Columns):
    """Whether a location is paused, and how many orders it was given on `day` (where it has a daily capacity)."""

    location_id: str
    paused: bool
    reason: str | None
    day: date | None
    allocated: int


class LocationStatus(Records[Location]):
    """Which locations are paused, and how many orders each location with a daily capacity was given today: every
    row read once per unit that allocates, without a lock (a pause that lands while a unit allocates applies from
    the next one); a count is written only if no other unit changed it since (otherwise the unit is tried again)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, LOCATION_STATUS, Location)
        self.read = False

    async def all(self) -> dict[str, Location]:
        if not self.read:
            self.read = True
            await self.load(Where("true", lambda row: True), lock=False)
        return {location.location_id: location for location in self.rows.values()}

    async def paused(self) -> set[str]:
        return {location_id for location_id, location in (await self.all()).items() if location.paused}

    async def given(self, location_id: str, day: date) -> int:
        """Orders allocated at the location on `day` (its own date)."""
        location = (await self.all()).get(location_id)
        return location.allocated if location is not None and location.day == day else 0

    async def give(self, location_id: str, day: date) -> None:
        """One more order allocated there on `day`."""
        count = await self.given(location_id, day) + 1
        if location_id not in await self.all():
            self.add(Location(location_id=location_id, paused=False, reason=None, day=day, allocated=count))
        else:
            self.save(location_id, day=day, allocated=count)

    async def set_paused(self, location_id: str, paused: bool, reason: str | None) -> None:
        if await self.get(location_id) is None:
            self.add(Location(location_id=location_id, paused=paused, reason=reason, day=None, allocated=0))
        else:
            self.save(location_id, paused=paused, reason=reason)


@dataclass(slots=True)
class Quote(Columns):
    """An option given to a channel: its plan, each shipment with its dates (JSON), kept for the order naming it."""

    quote_id: str
    request_id: str
    channel: str
    method: str
    service_level: str
    plan: str  # [{location_id, lines {sku: quantity}, ship_by, deliver_by}], as JSON
    promised_by: datetime
    expires_at: datetime


class Slots(Rows):
    """Delivery windows given out: a claim locks its window's row and counts it, so no window is given to more
    orders than its capacity, under any concurrency; each order holds at most one (given back on cancel)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, SLOTS)
        self.claims = Rows(db, SLOT_CLAIMS)

    async def _window(self, carrier_id: str, zone: str, starts_at: datetime) -> Row | None:
        key = (carrier_id, zone, starts_at)
        if key not in self.looked:
            await self.load(Where("carrier_id = $1 AND zone = $2 AND starts_at = $3",
                                  lambda r: (r["carrier_id"], r["zone"], r["starts_at"]) == key, key), keys=[key])
        return self.rows.get(key)

    async def take(self, order_id: str, carrier_id: str, zone: str, starts_at: datetime, ends_at: datetime,
                   capacity: int) -> bool:
        """The window for the order, if it has room (an order holding it already keeps it)."""
        held = await self.claims.get(order_id)
        if held is not None and (held["carrier_id"], held["zone"], held["starts_at"]) == (carrier_id, zone, starts_at):
            return True
        window = await self._window(carrier_id, zone, starts_at)
        if (window["claimed"] if window else 0) >= capacity:
            return False
        if held is not None:
            await self.give_back(order_id)
        if window is None:
            self.add({"carrier_id": carrier_id, "zone": zone, "starts_at": starts_at, "claimed": 1})
        else:
            self.save((carrier_id, zone, starts_at), claimed=window["claimed"] + 1)
        self.claims.add({"order_id": order_id, "carrier_id": carrier_id, "zone": zone, "starts_at": starts_at,
                         "ends_at": ends_at})
        return True

    async def give_back(self, order_id: str) -> None:
        """The order's window, if it holds one, free again."""
        held = await self.claims.get(order_id)
        if held is None:
            return
        window = await self._window(held["carrier_id"], held["zone"], held["starts_at"])
        if window is not None and window["claimed"] > 0:
            self.save((held["carrier_id"], held["zone"], held["starts_at"]), claimed=window["claimed"] - 1)
        self.claims.remove(order_id)

    async def given(self, carrier_id: str, zone: str, since: datetime) -> dict[datetime, int]:
        """Deliveries given per window of a zone from `since` on, read without a lock (for listing free ones)."""
        rows = await self.db.read(SLOTS, Where(
            "carrier_id = $1 AND zone = $2 AND starts_at >= $3",
            lambda r: r["carrier_id"] == carrier_id and r["zone"] == zone and r["starts_at"] >= since,
            (carrier_id, zone, since)), lock=False, order_by="carrier_id, zone, starts_at")
        found = {row["starts_at"]: row["claimed"] for row in rows}
        return found | {row["starts_at"]: row["claimed"] for key, row in self.rows.items()
                        if key[:2] == (carrier_id, zone)}

    def changes(self) -> list[Changes]:
        return [*super().changes(), *self.claims.changes()]


@dataclass(slots=True)
class Backorder(Columns):
    """An order waiting for stock: the latest request of it (what it still waits for)."""

    order_id: str
    command: str  # the ReserveStock, as JSON

    def skus(self) -> set[str]:
        return skus_of(self.command)


def skus_of(command: str) -> set[str]:
    """The SKUs a waiting order's request asks for."""
    return {line["sku"] for line in orjson.loads(command)["lines"]}


class Backorders(Records[Backorder]):
    """Orders waiting for stock, served oldest first when it arrives."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, BACKORDERS, Backorder)
        self.looked_for: set[str] = set()

    async def add_backorder(self, command: ReserveStock) -> None:
        """One per order: the latest request of a waiting order replaces the one before (the saga waits for the
        latest only)."""
        if await self.get(command.order_id) is None:
            self.add(Backorder(order_id=command.order_id, command=command.model_dump_json()))
        else:
            self.replace(command)

    def replace(self, command: ReserveStock) -> None:
        """What a waiting order still waits for, once part of it was served."""
        self.save(command.order_id, command=command.model_dump_json())

    async def units_waited_for(self) -> dict[str, int]:
        """Units of each SKU the waiting orders want (read without a lock)."""
        waiting: dict[str, int] = {}
        for row in await self.db.read(BACKORDERS, Where("true", lambda row: True, ()), lock=False):
            for line in ReserveStock.model_validate_json(row["command"]).lines:
                waiting[line.sku] = waiting.get(line.sku, 0) + line.quantity
        return waiting

    async def waiting_for(self, skus: Iterable[str]) -> list[ReserveStock]:
        """Waiting orders that ask for any of these SKUs, oldest first, locked (those another transaction is
        serving are skipped)."""
        skus = set(skus)
        missing = sorted(skus - self.looked_for)
        if missing:
            self.looked_for.update(missing)
            await self.load(Where(
                "EXISTS (SELECT 1 FROM jsonb_array_elements(command->'lines') l WHERE l->>'sku' = ANY($1::text[]))",
                lambda row: bool(skus_of(row["command"]) & set(missing)), (missing,)), skip_locked=True,
                order_by="created_at")
        oldest_first = sorted(self.rows.items(), key=lambda item: item[0] in self.new)  # this unit's own: newest
        return [ReserveStock.model_validate_json(waiting.command) for _, waiting in oldest_first
                if waiting.skus() & skus]


class InventoryWork(UnitOfWork):
    """What a batch touches, read in one order (open reservations, then stock rows by (sku, location), then the
    backorders of the orders it releases), so concurrent batches wait for each other instead of deadlocking."""

    deps: InventoryDeps

    def __init__(self, deps: InventoryDeps, db: Database) -> None:
        super().__init__(deps, db)
        self.reservations = self.repository(Reservations(db))
        self.stock = self.repository(Stock(db))
        self.backorders = self.repository(Backorders(db))
        self.locations = self.repository(LocationStatus(db))
        self.decisions = self.repository(Rows(db, DECISIONS))  # a log: appended, never read back here
        self.scores = self.repository(Scores(db))
        self.quotes = self.repository(Records(db, QUOTES, Quote))  # given; read back by the order that names one
        self.slots = self.repository(Slots(db))
        self.transfers = self.repository(Records(db, TRANSFERS, Transfer))
        self.pauses: frozenset[str] | None = None  # the paused locations, when this unit paused or resumed one

    async def transfers_under_way(self, skus: Iterable[str]) -> set[tuple[str, str]]:
        """(sku, destination) of the transfers of these SKUs still open."""
        skus = sorted(set(skus))
        rows = await self.db.read(TRANSFERS, Where(
            "sku = ANY($1::text[]) AND status IN ('requested', 'shipped')",
            lambda r: r["sku"] in skus and r["status"] in ("requested", "shipped"), (skus,)), lock=False)
        return {(row["sku"], row["to_location_id"]) for row in rows}

    async def paused_locations(self) -> set[str]:
        """The paused locations, read at most once a second per process (a pause applies within a second here, at
        once in the process that took it): one read fewer for almost every unit that allocates."""
        cached = self.pauses if self.pauses is not None else self.deps.paused.get()
        if cached is None:
            cached = frozenset(await self.locations.paused())
            self.deps.paused.put(cached)
        return set(cached)

    async def standings(self) -> dict[str, Standing]:
        """Each partner's recent failure rate and open requests (its scorecard), read at most once a second per
        process."""
        cached = self.deps.standings.get()
        if cached is None:
            cached = await self.scores.standings()
            self.deps.standings.put(cached)
        return dict(cached)

    async def prepare(self, messages: Sequence[Message]) -> None:
        finishing = [m.order_id for m in messages if isinstance(m, ReleaseStock | CommitStock)]
        held = await self.reservations.load_open(finishing) if finishing else set()
        wanted = {line.sku for m in messages if isinstance(m, ReserveStock | Restock) for line in m.lines}
        wanted |= {str(sku) for m in messages if (sku := getattr(m, "sku", None))}
        await self.stock.levels(wanted | held)
        released = [m.order_id for m in messages if isinstance(m, ReleaseStock) and m.reservation_id is None]
        if released:
            await self.backorders.load_keys(released)

    async def flush(self) -> None:
        """Before the unit's changes are written: every channel whose sellable number of a SKU is not what it was
        when the unit read the SKU's rows is told (once per SKU and channel, whatever the unit did). The rows stay
        locked from that read to the commit, so what one unit saw after is what the next sees before."""
        network = self.deps.network
        for sku in sorted({sku for sku, _ in self.stock.pending()}):
            before, after = self.stock.as_read(sku), self.stock.now(sku)
            for channel in network.channels:
                available = domain.channel_available(network, channel, sku, after)
                preorder = network.channel_stock(channel).preorder
                coming = domain.channel_inbound(network, channel, after) if preorder else None
                if available == domain.channel_available(network, channel, sku, before) and (
                        coming == (domain.channel_inbound(network, channel, before) if preorder else None)):
                    continue
                serving = {loc.id for loc in network.serving(channel)}
                first = min((i.eta for i in await self.stock.open_inbound([sku]) if i.location_id in serving),
                            default=None) if coming else None
                self.send(topics.to_each(topics.AVAILABILITY.name, topics.channel_availability_topic(channel)),
                          f"{sku}|{channel}", StockAvailabilityChanged(
                    sku=sku, channel=channel, available=available, preorderable=coming, available_from=first))
        await super().flush()
