"""Quotes: what the OMS would promise for a basket now (`promise.requested`, passed on by the order service), and
whether an order placed on one keeps it. A quote is a reservation's routing (`rules.routing`) and a saga's promise
(`rules.promise`) run over the stock as it is, reserving nothing; what it planned is kept for the order that names
it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson

from contracts import topics
from contracts.base import Window, new_id, quantities
from contracts.inventory import StockReservationFailed
from contracts.order import Destination, Reason, ReserveStock
from contracts.promises import PromiseOption, PromiseQuoted, PromiseRequested, QuoteOutcome, QuoteStock, StockQuoted
from inventory_service import domain
from inventory_service.store import InventoryWork, Quote
from rules import promise, routing, slots
from rules.network import Carrier, Location, Network, SlotZone
from runtime.logging import log
from runtime.tables import by

SPEEDS = ("standard", "express")


async def candidates(unit: InventoryWork, channel: str | None, destination: Destination,
                     pickup_location_id: str | None, excluded: Sequence[str]) -> tuple[list[routing.Site], dict[str, date]]:
    """The locations an order of `channel` to `destination` may be allocated at, as routing sees them (their
    distance, safety stock and standing), and today's date at those with a daily capacity; paused ones, those
    whose day is full and `excluded` ones left out."""
    network = unit.deps.network
    skipped = set(excluded) | await unit.paused_locations()
    days = {loc.id: unit.now().astimezone(ZoneInfo(loc.timezone)).date() for loc in network.locations
            if loc.daily_capacity is not None}
    skipped |= {location_id for location_id, day in days.items()  # its day's capacity given out
                if await unit.locations.given(location_id, day) >= (network.location(location_id).daily_capacity or 0)}
    store = network.location(pickup_location_id) if pickup_location_id else None
    point = network.postal_point(destination.country, destination.postal_code)

    def distance(lat: float, lon: float) -> float:  # to the pickup store (itself first), the postal region, the country
        if store is not None:
            return domain.great_circle_km(lat, lon, store.lat, store.lon)
        if point is not None:
            return domain.great_circle_km(lat, lon, *point)
        return domain.distance_km(lat, lon, destination.country)
    standings = await unit.standings()
    return [routing.Site(loc.id, distance(loc.lat, loc.lon), loc.safety_stock, loc.country,
                         *standings.get(loc.id, (0.0, 0)), float(loc.cost), loc.lead_days)
            for loc in network.serving(channel) if loc.id not in skipped and loc.serves(destination.country)], days


def asked(network: Network, request: PromiseRequested) -> list[tuple[str, str, Location | None]]:
    """(method, speed, pickup store) of each option a request asks for: shipped at each speed (or the one named) and
    collected at each store in the destination's country; or collected at the one store named."""
    if request.pickup_location_id:
        store = next((loc for loc in network.locations if loc.id == request.pickup_location_id), None)
        return [("pickup", request.shipping_speed or "standard", store)] if store is not None else []
    assert request.destination is not None
    country = request.destination.country
    ship = [("ship", speed, None) for speed in ((request.shipping_speed,) if request.shipping_speed else SPEEDS)]
    return [*ship, *(("pickup", "standard", loc) for loc in network.serving(request.channel)
                     if loc.kind == "store" and loc.country == country)]


async def quote_stock(cmd: QuoteStock, unit: InventoryWork) -> None:
    """Each option the request asks for, planned and promised as a reservation now would be, kept as a quote for
    `OMS_QUOTE_TTL_S`; none, with the reason, when nothing can be promised."""
    request, network, now = cmd.request, unit.deps.network, unit.now()
    expires_at = now + timedelta(seconds=unit.deps.settings.quote_ttl_s)
    lines = quantities(request.lines)
    available = await unit.stock.glance(lines)
    unknown = sorted(set(lines) - {sku for _, sku in available})
    options: list[PromiseOption] = []
    for method, speed, store in [] if unknown else asked(network, request):
        to = request.destination or Destination(country=store.country if store else "",
                                                postal_code=store.postal_code if store else None)
        sites, _ = await candidates(unit, request.channel, to, store.id if store else None, [])
        decided = routing.decide(lines, available, sites, network.carriers, routing.Destination(to.country, speed),
                                 network.weights(request.channel))
        if decided is None:
            continue
        given = give(unit, request, method, speed, store, decided.chosen.plan, to.country, now, expires_at)
        carrier, zone = slot_zone(network, given.location_ids, to, speed) if method == "ship" else (None, None)
        if carrier is not None and zone is not None:  # the windows the customer may choose, once it can be there
            given = given.model_copy(update={"slots": await free_slots(unit, carrier, zone, given.promised_by)})
        options.append(given)
    reason = None
    if unknown:
        reason = Reason(code="unknown_sku", message=f"no stock is known of {', '.join(unknown)}")
    elif not options:
        reason = Reason(code="insufficient_stock", message="no location that serves the channel has these lines now")
    log.info("promise.quoted", request_id=request.id, options=len(options))
    unit.send(topics.INVENTORY_REPLIES.name, request.id, StockQuoted(quoted=PromiseQuoted(
        request_id=request.id, channel=request.channel, options=options, expires_at=expires_at, reason=reason)))


def give(unit: InventoryWork, request: PromiseRequested, method: str, speed: str, store: Location | None,
         plan: routing.Allocation, country: str, now: datetime, expires_at: datetime) -> PromiseOption:
    """One option of a quote: its shipments promised (`rules.promise.legs`) and the plan kept under its id."""
    network = unit.deps.network
    legs = promise.legs([network.location(location_id) for location_id, _ in plan], network.carriers, country,
                        speed, now)
    given = option(f"q-{new_id()}", method, speed, store, legs)
    unit.quotes.add(Quote(
        quote_id=given.quote_id, request_id=request.id, channel=request.channel, method=method, service_level=speed,
        plan=orjson.dumps([{"location_id": leg.location_id, "lines": part, "ship_by": leg.ship_by.isoformat(),
                            "deliver_by": leg.deliver_by.isoformat()}
                           for leg, (_, part) in zip(legs, plan, strict=True)]).decode(),
        promised_by=given.promised_by, expires_at=expires_at))
    return given


def option(quote_id: str, method: str, speed: str, store: Location | None, legs: list[promise.Leg]) -> PromiseOption:
    """An option as the channel sees it: leaving when its last shipment leaves, there when its last one arrives,
    carried (first) by the first one's carrier, costing their rates together."""
    return PromiseOption(
        quote_id=quote_id, method=method, shipping_speed=speed, location_ids=[leg.location_id for leg in legs],
        carrier_id=legs[0].carrier_id, ship_by=max(leg.ship_by for leg in legs),
        promised_by=max(leg.deliver_by for leg in legs),
        shipping_cost=str(sum((leg.rate for leg in legs), Decimal("0")).quantize(Decimal("0.01"))),
        pickup_location_id=store.id if store else None)


Quoted = list[tuple[str, dict[str, int], datetime, datetime]]  # (location, lines, ship-by, deliver-by) per shipment


async def verdict(unit: InventoryWork, cmd: ReserveStock, lines: Mapping[str, int],
                  available: Mapping[tuple[str, str], int], sites: Sequence[routing.Site]
                  ) -> tuple[QuoteOutcome, Quoted | None]:
    """Whether the order keeps the quote it names: its plan, whole, if the quote holds (not expired, the same
    channel, lines and speed) and every location of it still has the stock; else why not."""
    assert cmd.quote_id is not None
    found = await unit.quotes.load(by("quote_id", [cmd.quote_id]), lock=False)
    quote = found[0] if found else None

    def outcome(kind: str, why: str) -> tuple[QuoteOutcome, None]:
        return QuoteOutcome(quote_id=cmd.quote_id or "", outcome=kind,
                            promised_by=quote.promised_by if quote else None, why=why), None
    if quote is None or quote.channel != cmd.channel:
        return outcome("expired", "is not known (or was forgotten after it expired)")
    if quote.expires_at <= unit.now():
        return outcome("expired", f"expired at {quote.expires_at.isoformat(timespec='seconds')}")
    plan: Quoted = [(leg["location_id"], leg["lines"], datetime.fromisoformat(leg["ship_by"]),
                     datetime.fromisoformat(leg["deliver_by"])) for leg in orjson.loads(quote.plan)]
    quoted_lines: dict[str, int] = {}
    for _, part, _, _ in plan:
        for sku, qty in part.items():
            quoted_lines[sku] = quoted_lines.get(sku, 0) + qty
    if quoted_lines != dict(lines) or quote.service_level != cmd.service_level:
        return outcome("changed", "was for other lines or another speed")
    usable = {site.location_id: site for site in sites}
    for location_id, part, _, _ in plan:
        site = usable.get(location_id)
        if site is None:
            return outcome("changed", f"could not be kept: {location_id} takes no orders now")
        if any(available.get((location_id, sku), 0) - site.safety_stock < qty for sku, qty in part.items()):
            return outcome("changed", f"could not be kept: the stock it planned at {location_id} went")
    return QuoteOutcome(quote_id=cmd.quote_id, outcome="kept", promised_by=quote.promised_by), plan


MOST_SLOTS = 24  # free windows listed in an option or a slot_full hold: the next ones


def slot_zone(network: Network, location_ids: list[str], to: Destination, level: str
              ) -> tuple[Carrier | None, SlotZone | None]:
    """The carrier that would deliver (the first shipment's: the cheapest that keeps the promise) and its slot zone
    the destination is in, if it has one."""
    first = network.location(location_ids[0])
    chosen = promise.choose_carrier(network.carriers, first.country, to.country, level, [])
    carrier = next((c for c in network.carriers if chosen and c.id == chosen[0]), None)
    return carrier, slots.zone_for(carrier, to.country, to.postal_code)


async def free_slots(unit: InventoryWork, carrier: Carrier, zone: SlotZone, after: datetime) -> list[Window]:
    """The zone's windows with room left, from `after` (when the order can be there) on."""
    spans = slots.windows(zone, after, unit.now())
    given = await unit.slots.given(carrier.id, zone.zone, after) if spans else {}
    return [Window(start=start, end=end) for start, end in slots.free(zone, spans, given)][:MOST_SLOTS]


async def claim_slot(unit: InventoryWork, cmd: ReserveStock, plan: routing.Allocation) -> StockReservationFailed | None:
    """The order's delivery window, claimed with its stock (None); or, when it is full or not one the carrier offers
    there, the refusal naming the free ones (and nothing reserved)."""
    assert cmd.window is not None
    network, ids = unit.deps.network, [location_id for location_id, _ in plan]
    carrier, zone = slot_zone(network, ids, cmd.destination, cmd.service_level)
    start, end = cmd.window.start, cmd.window.end
    if carrier is not None and zone is not None and slots.offered(zone, (start, end)) and await unit.slots.take(
            cmd.order_id, carrier.id, zone.zone, start, end, zone.capacity):
        return None
    free: list[Window] = []
    if carrier is not None and zone is not None:
        legs = promise.legs([network.location(i) for i in ids], network.carriers, cmd.destination.country,
                            cmd.service_level, unit.now())
        free = await free_slots(unit, carrier, zone, max(leg.deliver_by for leg in legs))
    log.info("slot.full", order_id=cmd.order_id, free=len(free))
    return StockReservationFailed(order_id=cmd.order_id, reason="slot_full", request_id=cmd.id, free_slots=free)
