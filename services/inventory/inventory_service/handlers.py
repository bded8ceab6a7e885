"""Inventory's handlers: stock feeds change levels; the saga's commands reserve, release and commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from contracts import topics
from contracts.base import SkuQuantity, new_id, quantities
from contracts.fulfillment import PartnerScored, RequestTransfer, TransferProgressed
from contracts.inventory import (
    Allocation,
    StockAdjusted,
    StockCounted,
    StockExpected,
    StockInboundExpected,
    StockLevelChanged,
    StockLow,
    StockReceived,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    StockTransferRequested,
)
from contracts.order import CommitStock, ReleaseStock, ReserveStock, Restock, SetLocationPaused
from contracts.partners import LocationPaused, LocationResumed
from inventory_service import domain, quotes
from inventory_service.store import InventoryWork, Transfer
from rules import inbound as inbound_rules
from rules import promise, routing
from rules import transfers as transfer_rules
from rules.network import Feed
from runtime.consume import Unprocessable
from runtime.logging import log
from runtime.pollers import Tick
from runtime.unit import Handler


def level_events(unit: InventoryWork, before: domain.Level, after: domain.Level) -> None:
    unit.send(topics.INVENTORY_EVENTS.name, after.sku, StockLevelChanged(
        sku=after.sku, location_id=after.location_id, on_hand=after.on_hand, reserved=after.reserved,
        available=after.available, inbound=after.inbound))
    reorder_point = unit.deps.network.reorder_point(after.sku)
    if domain.newly_low(before, after, reorder_point):
        unit.send(topics.INVENTORY_EVENTS.name, after.sku, StockLow(
            sku=after.sku, location_id=after.location_id, available=after.available, reorder_point=reorder_point))


async def change_level(msg: StockCounted | StockAdjusted | StockInboundExpected | StockReceived,
                       unit: InventoryWork) -> None:
    before = await unit.stock.level(msg.sku, msg.location_id)
    match msg:
        case StockCounted():
            after, kind, qty = domain.counted(before, msg.on_hand), "counted", msg.on_hand - before.on_hand
        case StockAdjusted(reason="short_pick"):  # units a location could not find: it has none left, at worst
            delta = max(msg.delta, -before.on_hand)
            after, kind, qty = domain.adjusted(before, delta), "adjusted", delta
        case StockAdjusted():
            after, kind, qty = domain.adjusted(before, msg.delta), "adjusted", msg.delta
        case StockInboundExpected(po_id=str() as po_id):  # a purchase order's line: sent again, it replaces it
            await expect_line(unit, msg, po_id, before)
            return
        case StockInboundExpected():
            after, kind, qty = domain.inbound_expected(before, msg.quantity), "", 0
            unit.stock.expect(msg.id, msg.sku, msg.location_id, msg.quantity, msg.eta)
        case StockReceived():
            after, kind, qty = domain.received(before, msg.quantity), "received", msg.quantity
            if msg.po_id:
                await unit.stock.close_inbound(msg.po_id, unit.now(), msg.sku, msg.location_id, msg.quantity)
    unit.stock.set(after)
    if kind:
        unit.stock.record(after, kind, qty, msg.id)
    level_events(unit, before, after)
    log.info("stock.level_changed", sku=msg.sku, location_id=msg.location_id, on_hand=after.on_hand)
    if after.available > before.available:
        await serve_backorders(unit, [msg.sku])


def po_line(po_id: str, sku: str, location_id: str) -> str:
    return f"po:{po_id}:{sku}:{location_id}"


async def expected_dates(unit: InventoryWork, skus: Iterable[str]) -> dict[str, datetime]:
    """When each waiting order's inbound units arrive (oldest order first, from the earliest units), as the unit
    leaves the inbound lines."""
    return {order_id: at for order_id, (at, _) in (await expected_where(unit, skus)).items()}


async def expected_where(unit: InventoryWork, skus: Iterable[str]) -> dict[str, tuple[datetime, str]]:
    """As `expected_dates`, with the location the last of each order's units arrive at."""
    waiting = await unit.backorders.waiting_for(skus)
    lines = [(cmd.order_id, quantities(cmd.lines)) for cmd in waiting]
    every = {sku for _, wanted in lines for sku in wanted}
    return inbound_rules.expected_where(lines, await unit.stock.open_inbound(every))


def leaves(unit: InventoryWork, dated: tuple[datetime, str] | None) -> dict[str, Any]:
    """An order dated from inbound units: when it is expected to leave (the units' arrival, as a reservation then
    would be promised) and from where."""
    if dated is None:
        return {}
    at, location_id = dated
    return {"expected_ship": promise.ship_by(unit.deps.network.location(location_id), at),
            "expected_location_id": location_id}


async def expect_line(unit: InventoryWork, msg: StockInboundExpected, po_id: str, before: domain.Level) -> None:
    """A purchase order's line, new or replaced: the inbound level follows its quantity; the waiting orders whose
    date it moves are each told once (`inventory.stock_expected`)."""
    key = po_line(po_id, msg.sku, msg.location_id)
    was = await unit.stock.inbound_line(key)
    dates_before = await expected_where(unit, [msg.sku])
    open_before = was[0] if was is not None and not was[1] else 0
    if was is None:
        unit.stock.expect(key, msg.sku, msg.location_id, msg.quantity, msg.eta, po_id)
    elif not was[1]:
        unit.stock.inbound.save(key, quantity=msg.quantity, eta=msg.eta)
    else:
        log.info("stock.inbound_line_closed", po_id=po_id, sku=msg.sku)
        return
    after = replace(before, inbound=max(before.inbound + msg.quantity - open_before, 0))
    unit.stock.set(after)
    level_events(unit, before, after)
    dates_after = await expected_where(unit, [msg.sku])
    for order_id in sorted(dates_before.keys() | dates_after.keys()):
        then, now = dates_before.get(order_id), dates_after.get(order_id)
        if (then and then[0]) != (now and now[0]):
            unit.send(topics.INVENTORY_REPLIES.name, order_id, StockExpected(
                order_id=order_id, expected_at=now[0] if now else None, previous=then[0] if then else None,
                skus=[msg.sku], **leaves(unit, now)))
    log.info("stock.inbound_line", po_id=po_id, sku=msg.sku, location_id=msg.location_id, quantity=msg.quantity)


async def try_reserve(unit: InventoryWork, cmd: ReserveStock) -> StockReserved | StockReservationFailed | None:
    """Allocates and reserves the whole order, or nothing; for a channel that ships what is available, what there
    is now (the rest named `backordered` in the reply), or nothing when there is none at all. An order placed on a
    quote gets the quote's plan and dates while its stock is there, else a plan of its own and the reason; one that
    asks for a delivery window gets it with the stock, or nothing is reserved (`slot_full`, the free ones named)."""
    lines = quantities(cmd.lines)
    levels = await unit.stock.levels(lines)
    network = unit.deps.network
    sites, days = await quotes.candidates(unit, cmd.channel, cmd.destination, cmd.pickup_location_id,
                                          cmd.excluded_locations)
    if cmd.only_locations is not None:  # a move to one location: nowhere else
        sites = [site for site in sites if site.location_id in cmd.only_locations]
    available = {key: level.available for key, level in levels.items()}
    to = routing.Destination(cmd.destination.country, cmd.service_level)
    weights = network.weights(cmd.channel)
    outcome, quoted = await quotes.verdict(unit, cmd, lines, available, sites) if cmd.quote_id else (None, None)
    missing: dict[str, int] = {}
    if quoted is not None:
        decided: routing.Decision | None = routing.Decision(routing.Scored(
            [(location_id, part) for location_id, part, _, _ in quoted], 0.0, {"quoted": 0.0}))
    else:
        decided = routing.decide(lines, available, sites, network.carriers, to, weights)
    if decided is None and network.channel_stock(cmd.channel or "").policy == "ship_available":
        part = domain.available_part(lines, available, sites)
        decided = routing.decide(part, available, sites, network.carriers, to, weights) if part else None
        missing = {sku: qty - part.get(sku, 0) for sku, qty in lines.items() if qty > part.get(sku, 0)}
    if decided is None:
        return None
    if cmd.window is not None and not cmd.pickup_location_id and (
            full := await quotes.claim_slot(unit, cmd, decided.chosen.plan)) is not None:
        return full
    described = record_decision(unit, cmd, decided, lines, available, sites, to)
    dates = {location_id: (leaves, arrives) for location_id, _, leaves, arrives in quoted or ()}
    allocations = []
    for location_id, part in decided.chosen.plan:
        if location_id in days:
            await unit.locations.give(location_id, days[location_id])
        reservation_id = f"res-{new_id()}"
        unit.reservations.add_reservation(reservation_id, cmd.order_id, location_id, part)
        leaves, arrives = dates.get(location_id, (None, None))
        allocations.append(Allocation(reservation_id=reservation_id, location_id=location_id,
                                      lines=[SkuQuantity(sku=s, quantity=q) for s, q in part.items()],
                                      ship_by=leaves, deliver_by=arrives))
        for sku, qty in part.items():
            before = levels[(location_id, sku)]
            after = replace(before, reserved=before.reserved + qty)
            unit.stock.set(after)
            level_events(unit, before, after)
    reply = StockReserved(order_id=cmd.order_id, allocations=allocations, request_id=cmd.id,
                          backordered=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(missing.items())],
                          quote=outcome, decision=described)
    unit.send(topics.INVENTORY_REPLIES.name, cmd.order_id, reply)
    return reply


def record_decision(unit: InventoryWork, cmd: ReserveStock, decided: routing.Decision, lines: dict[str, int],
                    available: dict[tuple[str, str], int], sites: list[routing.Site], to: routing.Destination) -> str:
    """The decision with its reasons, a row with the inputs it was made on (what the candidates had of these lines)
    for `oms order` and `oms whatif`; returns the chosen plan described (the `reserved` event says it too)."""
    def plan(scored: routing.Scored) -> dict[str, object]:
        return {"plan": scored.plan, "total": round(scored.total, 3), "parts": scored.parts}

    inputs = {"lines": lines, "to": {"country": to.country, "service_level": to.service_level},
              "sites": [{"location_id": s.location_id, "distance_km": round(s.distance_km, 3),
                         "safety_stock": s.safety_stock, "country": s.country,
                         "failure_rate": s.failure_rate, "open_requests": s.open_requests} for s in sites],
              "available": [[loc, sku, n] for (loc, sku), n in available.items() if sku in lines and n > 0]}
    described = decided.chosen.describe()
    unit.decisions.append({"order_id": cmd.order_id, "request_id": cmd.id, "channel": cmd.channel,
                          "chosen": described, "plan": orjson.dumps(plan(decided.chosen)).decode(),
                          "alternatives": orjson.dumps([plan(a) for a in decided.alternatives]).decode(),
                          "inputs": orjson.dumps(inputs).decode()})
    return described


async def reserve_stock(cmd: ReserveStock, unit: InventoryWork) -> None:
    levels = await unit.stock.levels({line.sku for line in cmd.lines})
    unknown = sorted({line.sku for line in cmd.lines} - {sku for _, sku in levels})
    if unknown:
        failed = StockReservationFailed(order_id=cmd.order_id, reason="unknown_sku", unknown_skus=unknown,
                                        request_id=cmd.id)
    elif (reserved := await try_reserve(unit, cmd)) is None:
        await unit.backorders.add_backorder(cmd)
        dated = (await expected_where(unit, [line.sku for line in cmd.lines])).get(cmd.order_id)
        failed = StockReservationFailed(order_id=cmd.order_id, reason="insufficient_stock", request_id=cmd.id,
                                        expected_at=dated[0] if dated else None, **leaves(unit, dated))
    elif isinstance(reserved, StockReservationFailed):  # its delivery window is full: the order waits for a person
        failed = reserved
    else:
        if reserved.backordered:  # ship_available: the rest waits, under the same request
            await unit.backorders.add_backorder(cmd.model_copy(update={"lines": reserved.backordered}))
        log.info("stock.reserved", order_id=cmd.order_id, backordered=bool(reserved.backordered))
        return
    log.info("stock.not_reserved", order_id=cmd.order_id, reason=failed.reason)
    unit.send(topics.INVENTORY_REPLIES.name, cmd.order_id, failed)


async def serve_backorders(unit: InventoryWork, skus: list[str]) -> None:
    """Stock arrived: waiting orders that now fit are reserved, oldest first (whole, or what there is for a channel
    that ships what is available: the rest waits on)."""
    for cmd in await unit.backorders.waiting_for(skus):
        if not isinstance(reserved := await try_reserve(unit, cmd), StockReserved):  # none yet (or its window full)
            continue
        if reserved.backordered:  # served in part: the rest waits on
            unit.backorders.replace(cmd.model_copy(update={"lines": reserved.backordered}))
        else:
            unit.backorders.remove(cmd.order_id)
        log.info("stock.backorder_reserved", order_id=cmd.order_id, backordered=bool(reserved.backordered))


async def finish(unit: InventoryWork, order_id: str, reservation_id: str | None, status: str,
                 message_id: str) -> tuple[list[str], set[str]]:
    """Releases (back to available) or commits (shipped: off on-hand) an order's open reservations."""
    lines = await unit.reservations.open_lines(order_id, reservation_id)
    held: dict[tuple[str, str], int] = {}
    for line in lines:
        held[(line.sku, line.location_id)] = held.get((line.sku, line.location_id), 0) + line.quantity
    for (sku, location_id), quantity in held.items():
        before = await unit.stock.level(sku, location_id)
        shipped = quantity if status == "committed" else 0
        after = replace(before, on_hand=before.on_hand - shipped, reserved=before.reserved - quantity)
        unit.stock.set(after)
        if shipped:
            unit.stock.record(after, "shipped", -shipped, message_id)
        level_events(unit, before, after)
    ids = sorted({line.reservation_id for line in lines})
    unit.reservations.close(ids, status)
    return ids, {line.sku for line in lines}


async def release_lines(cmd: ReleaseStock, unit: InventoryWork) -> None:
    """Some units of one reservation back to available (a partial cancel); the reservation stays open for the rest."""
    assert cmd.lines is not None and cmd.reservation_id is not None
    wanted = quantities(cmd.lines)
    freed = []
    for line in await unit.reservations.open_lines(cmd.order_id, cmd.reservation_id):
        n = min(line.quantity, wanted.get(line.sku, 0))
        if not n:
            continue
        wanted[line.sku] -= n
        before = await unit.stock.level(line.sku, line.location_id)
        after = replace(before, reserved=before.reserved - n)
        unit.stock.set(after)
        level_events(unit, before, after)
        unit.reservations.take(cmd.reservation_id, line.sku, n)
        freed.append(line.sku)
    unit.send(topics.INVENTORY_REPLIES.name, cmd.order_id, StockReleased(order_id=cmd.order_id,
                                                                        reservation_ids=[cmd.reservation_id]))
    if freed:
        await serve_backorders(unit, sorted(freed))


async def release_stock(cmd: ReleaseStock, unit: InventoryWork) -> None:
    if cmd.lines is not None and cmd.reservation_id is not None:
        await release_lines(cmd, unit)
        return
    if cmd.reservation_id is None:  # the whole order: no longer waiting, its delivery window free again
        unit.backorders.remove(cmd.order_id)
        await unit.slots.give_back(cmd.order_id)
    ids, skus = await finish(unit, cmd.order_id, cmd.reservation_id, "released", cmd.id)
    unit.send(topics.INVENTORY_REPLIES.name, cmd.order_id, StockReleased(order_id=cmd.order_id, reservation_ids=ids))
    if skus:
        await serve_backorders(unit, sorted(skus))


async def restock(cmd: Restock, unit: InventoryWork) -> None:
    """Returned units arrived: in the ledger as `returned`; resellable ones back on hand there (and waiting orders
    served from them), damaged ones written off at once."""
    resellable: dict[str, int] = {}
    damaged: dict[str, int] = {}
    for line in cmd.lines:
        tally = resellable if line.condition == "resellable" else damaged
        tally[line.sku] = tally.get(line.sku, 0) + line.quantity
    for sku in sorted(resellable.keys() | damaged.keys()):
        good, bad = resellable.get(sku, 0), damaged.get(sku, 0)
        before = await unit.stock.level(sku, cmd.location_id)
        after = replace(before, on_hand=before.on_hand + good)
        unit.stock.set(after)
        unit.stock.record(after, "returned", good + bad, cmd.id)
        if bad:
            unit.stock.record(after, "written_off", -bad, cmd.id)
        level_events(unit, before, after)
    log.info("stock.restocked", order_id=cmd.order_id, location_id=cmd.location_id)
    await serve_backorders(unit, sorted(sku for sku, n in resellable.items() if n))


async def set_location_paused(cmd: SetLocationPaused, unit: InventoryWork) -> None:
    """A location paused gets no new allocation; resumed, the orders waiting for stock it holds are served."""
    await unit.locations.set_paused(cmd.location_id, cmd.paused, cmd.reason)
    unit.pauses = paused = frozenset(await unit.locations.paused())
    unit.after_commit(lambda: unit.deps.paused.put(paused))  # at once in this process, once it holds
    log.warning("location.paused" if cmd.paused else "location.resumed", location_id=cmd.location_id)
    if not cmd.paused:
        await serve_backorders(unit, await unit.stock.available_at(cmd.location_id))


async def commit_stock(cmd: CommitStock, unit: InventoryWork) -> None:
    await finish(unit, cmd.order_id, cmd.reservation_id, "committed", cmd.id)


async def partner_scored(msg: PartnerScored, unit: InventoryWork) -> None:
    """A partner's scorecard, kept (`oms scorecards` shows them); a location's failure rate and open requests weigh
    from the next allocation on (here within a second)."""
    await unit.scores.record(msg)
    unit.after_commit(unit.deps.standings.forget)


def transfer_id_of(msg: StockTransferRequested) -> str:
    """One transfer per request, however often it is read."""
    return f"tr-{uuid.uuid5(TRANSFER_IDS, msg.id).hex[:12]}"


TRANSFER_IDS = uuid.UUID("0f3c9a52-61d4-4b7e-8e21-5a9d3c7b1e40")


async def transfer_requested(msg: StockTransferRequested, unit: InventoryWork) -> None:
    """Units to move between two locations: held back at the source at once (a reservation of the transfer's, so
    nothing sells them meanwhile) and the source asked to send them; refused when the source has not that many."""
    transfer_id, network = transfer_id_of(msg), unit.deps.network
    if await unit.transfers.get(transfer_id) is not None:
        return
    before = await unit.stock.level(msg.sku, msg.from_location_id) if msg.from_location_id in network.sites \
        else None
    why = domain.transfer_refusal(network, msg.from_location_id, msg.to_location_id, msg.sku, msg.quantity, before)
    transfer = Transfer(transfer_id=transfer_id, sku=msg.sku, quantity=msg.quantity,
                        from_location_id=msg.from_location_id, to_location_id=msg.to_location_id,
                        status="refused" if why else "requested", reason=why or msg.reason, requested_by=msg.by)
    unit.transfers.add(transfer)
    if why or before is None:
        log.warning("transfer.refused", transfer_id=transfer_id, sku=msg.sku, why=why)
        return
    unit.reservations.add_reservation(f"res-{transfer_id}", transfer_id, msg.from_location_id, {msg.sku: msg.quantity})
    after = replace(before, reserved=before.reserved + msg.quantity)
    unit.stock.set(after)
    level_events(unit, before, after)
    unit.send(topics.FULFILLMENT_COMMANDS.name, transfer_id, RequestTransfer(
        transfer_id=transfer_id, sku=msg.sku, quantity=msg.quantity, from_location_id=msg.from_location_id,
        to_location_id=msg.to_location_id))
    log.info("transfer.requested", transfer_id=transfer_id, sku=msg.sku, quantity=msg.quantity,
             from_location_id=msg.from_location_id, to_location_id=msg.to_location_id)


async def transfer_progressed(msg: TransferProgressed, unit: InventoryWork) -> None:
    """Shipped: off the source's hand (what it did not send is for sale again), inbound at the destination with its
    ETA, so it can be promised. Received: on the destination's hand, the inbound closed; a difference from what was
    shipped is an adjustment with the reason (`stock.adjusted` on the events topic); waiting orders are served."""
    transfer = await unit.transfers.get(msg.transfer_id)
    if transfer is None:
        raise Unprocessable(f"no transfer {msg.transfer_id}")
    if msg.status == "shipped" and transfer.status == "requested":
        held = sum(line.quantity for line in await unit.reservations.open_lines(transfer.transfer_id, None))
        shipped = min(msg.quantity, held)
        before = await unit.stock.level(transfer.sku, transfer.from_location_id)
        after = replace(before, on_hand=before.on_hand - shipped, reserved=before.reserved - held)
        unit.stock.set(after)
        unit.stock.record(after, "transferred", -shipped, msg.id)
        level_events(unit, before, after)
        unit.reservations.close([f"res-{transfer.transfer_id}"], "committed")
        before = await unit.stock.level(transfer.sku, transfer.to_location_id)
        after = domain.inbound_expected(before, shipped)
        unit.stock.set(after)
        unit.stock.expect(transfer.transfer_id, transfer.sku, transfer.to_location_id, shipped, msg.eta or unit.now(),
                          transfer.transfer_id)
        level_events(unit, before, after)
        unit.transfers.save(transfer.transfer_id, status="shipped", shipped=shipped, eta=msg.eta)
        log.info("transfer.shipped", transfer_id=transfer.transfer_id, shipped=shipped, asked=transfer.quantity)
        if held > shipped:
            await serve_backorders(unit, [transfer.sku])
    elif msg.status == "received" and transfer.status == "shipped":
        shipped, received = transfer.shipped or 0, msg.quantity
        before = await unit.stock.level(transfer.sku, transfer.to_location_id)
        after = replace(before, on_hand=before.on_hand + received, inbound=max(before.inbound - shipped, 0))
        unit.stock.set(after)
        unit.stock.record(after, "transferred", received, msg.id)
        await unit.stock.close_inbound(transfer.transfer_id, unit.now())
        if received != shipped:
            unit.send(topics.INVENTORY_EVENTS.name, transfer.sku, StockAdjusted(
                sku=transfer.sku, location_id=transfer.to_location_id, delta=received - shipped,
                reason=f"transfer {transfer.transfer_id}: {received} of {shipped} arrived"))
            log.warning("transfer.variance", transfer_id=transfer.transfer_id, shipped=shipped, received=received)
        level_events(unit, before, after)
        unit.transfers.save(transfer.transfer_id, status="received", received=received)
        log.info("transfer.received", transfer_id=transfer.transfer_id, received=received)
        if received:
            await serve_backorders(unit, [transfer.sku])
    else:
        log.info("transfer.update_ignored", transfer_id=transfer.transfer_id, status=transfer.status,
                 update=msg.status)


async def propose_transfers(tick: Tick, unit: InventoryWork) -> None:
    """The network file's `[transfers]`: where one location holds more than its cover and another is short, a
    transfer is asked for (by `inventory`, with why), at most one open per SKU and destination."""
    network = unit.deps.network
    rules = network.transfers
    if rules is None:
        return
    points = [network.reorder_point(sku) for sku in network.reorder_points]
    available = await unit.stock.short_or_spare(max(points, default=0))
    if not available:
        return
    skus = {sku for _, sku in available}
    sold = await unit.stock.sold_since(skus, tick.at - timedelta(days=rules.demand_days))
    waiting = await unit.backorders.units_waited_for()
    ships = [loc.id for loc in network.locations if loc.ships and not loc.supplier]
    for proposal in transfer_rules.proposals(available, sold, network.reorder_point, waiting,
                                             await unit.transfers_under_way(skus), ships, rules):
        await transfer_requested(StockTransferRequested(
            sku=proposal.sku, quantity=proposal.quantity, from_location_id=proposal.from_location_id,
            to_location_id=proposal.to_location_id, reason=proposal.reason, by="inventory"), unit)


HANDLERS_SCORES: dict[str, Handler[InventoryWork]] = {"partner.scored": partner_scored}
async def location_paused(msg: LocationPaused | LocationResumed, unit: InventoryWork) -> None:
    """An operator's pause of a location (`oms location pause`), sent with the stock adjustments they may write."""
    await set_location_paused(SetLocationPaused(location_id=msg.location_id,
                                                paused=isinstance(msg, LocationPaused), reason=msg.reason), unit)


HANDLERS_ADJUSTMENTS: dict[str, Handler[InventoryWork]] = {
    name: change_level for name in topics.INVENTORY_ADJUSTMENTS.message_types} | {
    "location.paused": location_paused, "location.resumed": location_paused,
    "stock.transfer_requested": transfer_requested}


FeedMessage = StockCounted | StockAdjusted | StockInboundExpected | StockReceived | LocationPaused | LocationResumed


def from_feed(feed: Feed) -> dict[str, Handler[InventoryWork]]:
    """One stock feed's own topic: it speaks only for the locations the network file gives it."""
    def checked(handler: Handler[InventoryWork]) -> Handler[InventoryWork]:
        async def handle(msg: FeedMessage, unit: InventoryWork) -> None:
            if not feed.may_write(msg.location_id):
                log.warning("stock.feed_not_its_location", feed=feed.id, location_id=msg.location_id)
                raise Unprocessable(f"feed {feed.id} may not change stock at {msg.location_id}: it changes nothing")
            await handler(msg, unit)
        return handle
    return {name: checked(handler) for name, handler in HANDLERS_ADJUSTMENTS.items()
            if name != "stock.transfer_requested"}  # an operator's, never a feed's
HANDLERS_COMMANDS: dict[str, Handler[InventoryWork]] = {
    "inventory.reserve_stock": reserve_stock, "inventory.release_stock": release_stock,
    "inventory.commit_stock": commit_stock, "inventory.restock": restock,
    "inventory.set_location_paused": set_location_paused, "inventory.quote_stock": quotes.quote_stock,
    "inventory.transfer_progressed": transfer_progressed}

