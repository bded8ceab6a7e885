"""The fulfilment network (locations and carriers) read from the network file."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from rules.transfers import TransferRules


class PickupSchedule(BaseModel):
    """When a carrier collects at a location (its own time, on its working days): at each of `times`, or every
    `every_minutes` from `start` to `end` (rules/pickups.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    carrier: str
    times: list[str] = []
    every_minutes: float | None = None
    start: str = "08:00"
    end: str = "18:00"


SUPPLIER = "supplier"  # a location kind: a drop-ship supplier, sent purchase orders on topics of its own


class Location(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    name: str
    country: str
    region: str
    line1: str = ""
    city: str = ""
    postal_code: str = ""
    lat: float
    lon: float
    ships: bool = True
    takes_returns: bool = True
    accept_within_s: int = 120
    safety_stock: int = 0
    # the promise (rules/promise.py): what is reserved before the cut-off (the location's own time) on a working
    # day leaves that day, after `handling_days` more; `ship_within_s` instead: a fixed time after the reservation
    timezone: str = "UTC"
    cutoff: str = "16:00"
    working_days: list[str] = ["mon", "tue", "wed", "thu", "fri"]
    handling_days: int = 1
    ship_within_s: int | None = None
    pickup_hold_days: float = 7  # an order ready for pickup here and not collected in time is cancelled
    daily_capacity: int | None = None  # orders it can take a day (its own date); none: no limit
    opening_hours: str = ""  # told to click-and-collect customers
    pickups: list[PickupSchedule] = []  # when carriers collect here: each pickup is asked for with its manifest
    # a drop-ship supplier (kind "supplier"): what it charges per purchase order (weighed like a carrier's rate),
    # the share of the list price it charges per unit (the purchase order's cost lines), the days it needs beyond
    # `handling_days`, and the countries it ships to (none named: every country)
    cost: Decimal = Decimal(0)
    cost_share: Decimal = Decimal("0.6")
    lead_days: int = 0
    regions: list[str] = []

    @property
    def supplier(self) -> bool:
        return self.kind == SUPPLIER

    def serves(self, country: str) -> bool:
        return not self.regions or country in self.regions


class Lane(BaseModel):
    model_config = ConfigDict(frozen=True)

    service_level: str
    countries: list[str]
    rate: Decimal
    transit_days: int


class SlotZone(BaseModel):
    """Delivery windows a carrier offers in one zone (`countries`, or only the postal codes starting with one of
    `postal_prefixes`): windows of `length_minutes` from `start` to `end` (the zone's own time) on `days`, each for
    at most `capacity` deliveries, offered up to `horizon_days` ahead (rules/slots.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zone: str
    countries: list[str]
    postal_prefixes: list[str] = []
    timezone: str = "UTC"
    days: list[str] = ["mon", "tue", "wed", "thu", "fri", "sat"]
    start: str = "08:00"
    end: str = "20:00"
    length_minutes: int = 120
    capacity: int = 10
    horizon_days: int = 7


class Carrier(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    answer_within_s: int = 60
    lanes: list[Lane]
    slots: list[SlotZone] = []  # delivery windows a customer may choose (none: the carrier delivers when it can)


class ChannelStock(BaseModel):
    """What one channel may sell: from which locations, and how much of it is kept back from it."""

    model_config = ConfigDict(frozen=True)

    locations: list[str] | None = None  # None: every location that ships
    buffer: int | str = 0  # units, or a share of what the locations have ("10%")
    buffers: dict[str, int | str] = {}  # per SKU, instead of `buffer`
    # ship_complete: an order is reserved whole or waits whole; ship_available: what is there ships now and the
    # rest, per line, when stock comes
    policy: Literal["ship_complete", "ship_available"] = "ship_complete"
    # it may sell what is on its way as pre-orders: its availability says how many (`preorderable`) and from when
    preorder: bool = False

    def buffer_for(self, sku: str, total: int) -> int:
        """Units kept back from `total` of this SKU (a share is rounded up)."""
        rule = self.buffers.get(sku, self.buffer)
        if isinstance(rule, str) and rule.strip().endswith("%"):
            return -(-total * int(rule.strip()[:-1]) // 100)
        return int(rule)


class Weights(BaseModel):
    """How allocation weighs a plan (rules/routing.py): what one unit of each criterion adds to its score. The
    defaults are the rule the OMS always had: fewest locations, then the nearest; a failing partner loses work."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shipping: float = 0.0  # per unit of money of the cheapest carrier's rate, per shipment
    late: float = 0.0  # per day a shipment would arrive after the service level's promise
    split: float = 10_000.0  # per shipment beyond the first
    distance: float = 1.0  # per km from the location to the destination
    reliability: float = 2_000.0  # per unit of failure rate above the healthy share (rejections, QC failures)
    workload: float = 0.0  # per request open at the location (its scorecard's load)


class PostalRegion(BaseModel):
    """Where the postal codes of a country that start with `prefix` are (the longest prefix that fits wins)."""

    model_config = ConfigDict(frozen=True)

    country: str
    prefix: str
    lat: float
    lon: float


class Feed(BaseModel):
    """A stock feed (a WMS, a store's tills, a supplier): it writes stock adjustments on a topic of its own, for
    `locations` only (every location when the network file names none)."""

    model_config = ConfigDict(frozen=True)

    id: str
    locations: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def named_only(cls, value: object) -> object:
        return {"id": value} if isinstance(value, str) else value

    def may_write(self, location_id: str) -> bool:
        return self.locations is None or location_id in self.locations


class Network(BaseModel):
    model_config = ConfigDict(frozen=True)

    locations: list[Location]
    carriers: list[Carrier]
    reorder_points: dict[str, int] = {"default": 5}
    # the sales channels that may submit orders, each with a principal of its own on the broker
    channels: list[str] = ["web", "app", "store:store-munich", "store:store-paris", "marketplace:amazon",
                           "marketplace:wayfair", "callcenter"]
    # stock feeds (a WMS, a store's till system, a supplier): each may write stock adjustments and nothing else
    feeds: list[Feed] = []
    # per channel: the locations that serve it and its buffer (a channel not named: every location, no buffer)
    availability: dict[str, ChannelStock] = {}
    # per channel (or "default"): how allocation weighs cost, promise, splits, distance and reliability
    routing: dict[str, Weights] = {}
    postal_regions: list[PostalRegion] = []
    # channels that keep the shipping charge when a whole order is cancelled before it ships (others give it back)
    keeps_shipping: list[str] = []
    # per channel (or "default"): the notices also sent by text message to customers with a phone and consent
    sms: dict[str, list[str]] = {"default": ["shipped", "delay", "ready_for_pickup", "delivered"]}
    # when inventory proposes a transfer between locations (none without the table)
    transfers: TransferRules | None = None

    def sms_kinds(self, channel: str) -> list[str]:
        return self.sms.get(channel, self.sms.get("default", []))

    def weights(self, channel: str | None) -> Weights:
        return self.routing.get(channel or "") or self.routing.get("default") or Weights()

    def postal_point(self, country: str, postal_code: str | None) -> tuple[float, float] | None:
        """The coordinates of the postal region a code falls in, if the network file names one."""
        code = (postal_code or "").replace(" ", "").upper()
        fits = [r for r in self.postal_regions if r.country == country and code.startswith(r.prefix.upper())]
        best = max(fits, key=lambda r: len(r.prefix), default=None)
        return (best.lat, best.lon) if best else None

    @property
    def sites(self) -> list[str]:
        """The warehouses and stores (the locations on the warehouse topics): every location but the suppliers."""
        return [loc.id for loc in self.locations if not loc.supplier]

    def not_a_site(self, *location_ids: str) -> str | None:
        """Why stock cannot move between these locations (None: it can): each a warehouse or store (a drop-ship
        supplier ships to customers only)."""
        sites = set(self.sites)
        return next((f"no warehouse or store {i}" for i in location_ids if i not in sites), None)

    @property
    def suppliers(self) -> list[str]:
        """The drop-ship suppliers (each with its own purchase-order topics and principal)."""
        return [loc.id for loc in self.locations if loc.supplier]

    def location(self, location_id: str) -> Location:
        return next(loc for loc in self.locations if loc.id == location_id)

    def channel_stock(self, channel: str) -> ChannelStock:
        return self.availability.get(channel, ChannelStock())

    def serving(self, channel: str | None) -> list[Location]:
        """The locations that ship for this channel (every one that ships, for no channel or one without a rule)."""
        rule = self.availability.get(channel or "")
        return [loc for loc in self.locations
                if loc.ships and (rule is None or rule.locations is None or loc.id in rule.locations)]

    def sellable(self, channel: str, sku: str, available: Mapping[str, int]) -> int:
        """What `channel` may sell of `sku`, given the units available (on hand less reserved) at each location: those
        of the locations that serve it, less each one's safety stock, less the channel's buffer."""
        total = sum(max(available[loc.id] - loc.safety_stock, 0) for loc in self.serving(channel)
                    if loc.id in available)
        return max(total - self.channel_stock(channel).buffer_for(sku, total), 0)

    def reorder_point(self, sku: str) -> int:
        return self.reorder_points.get(sku, self.reorder_points.get("default", 0))


@lru_cache
def load_network(path: Path) -> Network:
    with path.open("rb") as fh:
        return Network.model_validate(tomllib.load(fh))
