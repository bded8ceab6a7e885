"""Partner simulators: warehouses, stores, drop-ship suppliers, carriers and the payment side, answering their
topics like real partners.

`python -m simulators`. OMS_SIMULATE_PARTNERS picks who is played (`all`, `none`, or a comma list of location and
carrier ids and `payments`); the payment side captures every capture request but those of a payment reference that
starts with `decline` (a test card, as payment providers' sandboxes have); OMS_SIM_DELAY_MS is the pause between
two steps; OMS_SIM_FAILURE_RATE the share of requests a partner refuses (a warehouse rejects, a carrier fails the
booking); OMS_SIM_DAMAGED_RATE the share of returned units that come back damaged (0.1); OMS_SIM_NO_SHOW_RATE the
share of click-and-collect customers who never come (0.05); OMS_SIM_PICKUP_MISS_RATE the share of pickups a carrier
misses (0.1); OMS_SIM_TRANSFER_SHORT_RATE the share of transfers that arrive a unit short (0.1);
OMS_SIM_SUPPLIER_CARRIER_RATE the share of purchase orders a drop-ship supplier ships with a carrier it books itself
(0.5; the others it leaves for the OMS to book). A supplier refuses at OMS_SIM_FAILURE_RATE, as a warehouse does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

import orjson
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, OutOfOrderSequenceNumber, UnknownProducerId
from aiokafka.structs import ConsumerRecord

from contracts import topics
from contracts.base import Message
from contracts.partners import (
    FulfillmentAccepted,
    FulfillmentCancelled,
    FulfillmentCancelRefused,
    FulfillmentCollected,
    FulfillmentPacked,
    FulfillmentPicked,
    FulfillmentReadyForPickup,
    FulfillmentRejected,
    Parcel,
    PickupConfirmed,
    PickupMissed,
    PurchaseOrderAcknowledged,
    PurchaseOrderRejected,
    PurchaseOrderShipped,
    ReturnedLine,
    ReturnReceived,
    ShipmentBooked,
    ShipmentBookingFailed,
    ShipmentDelivered,
    ShipmentException,
    ShipmentInTransit,
    ShipmentPickedUp,
    TransferReceived,
    TransferShipped,
)
from contracts.payments import PaymentCaptured, PaymentCaptureFailed
from rules.network import Carrier, load_network
from runtime.logging import configure_logging, log
from runtime.messaging import cloudevent_headers, encode
from runtime.security import PAYMENTS, client_options, played_partners, principal, requests_topic
from runtime.service import freeze_startup_objects
from runtime.settings import Settings, get_settings


class Offsets:
    """Commits a partition only up to its oldest request still being answered, and only when that moved."""

    def __init__(self) -> None:
        self.in_flight: dict[TopicPartition, set[int]] = defaultdict(set)
        self.seen: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}

    def start(self, tp: TopicPartition, offset: int) -> None:
        self.in_flight[tp].add(offset)
        self.seen[tp] = max(self.seen.get(tp, -1), offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        self.in_flight[tp].discard(offset)

    def committable(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The `assigned` partitions whose commit point moved since `mark`: committing the others again would write
        a record to `__consumer_offsets` per partition five times a second, answered or not (85 a second here, for
        ever); committing one a rebalance took away fails."""
        ready = {tp: min(self.in_flight[tp]) if self.in_flight[tp] else last + 1 for tp, last in self.seen.items()
                 if tp in assigned}
        return {tp: offset for tp, offset in ready.items() if self.committed.get(tp) != offset}

    def mark(self, committed: dict[TopicPartition, int]) -> None:
        self.committed |= committed


# The replies of the request being answered that were handed to the producer and not yet acknowledged.
_unacked: ContextVar[list[asyncio.Future[object]]] = ContextVar("unacked")


class Partners:
    def __init__(self, producer: AIOKafkaProducer, delay: float, failure_rate: float, rng: random.Random,
                 damaged_rate: float = 0.1, make_producer: Callable[[], AIOKafkaProducer] | None = None,
                 no_show_rate: float = 0.0, exception_rate: float = 0.0, pickup_miss_rate: float = 0.0,
                 transfer_short_rate: float = 0.0, supplier_carrier_rate: float = 0.0,
                 carriers: tuple[Carrier, ...] = ()) -> None:
        self.producer, self.delay, self.failure_rate, self.rng = producer, delay, failure_rate, rng
        self.damaged_rate, self.no_show_rate, self.exception_rate = damaged_rate, no_show_rate, exception_rate
        self.pickup_miss_rate = pickup_miss_rate
        self.transfer_short_rate = transfer_short_rate
        self.supplier_carrier_rate, self.carriers = supplier_carrier_rate, carriers
        self.withdrawn: set[str] = set()  # purchase orders the OMS withdrew: never shipped
        self.packed: set[str] = set()
        self.make_producer = make_producer
        self._renewing = asyncio.Lock()

    async def renew(self, broken: AIOKafkaProducer) -> None:
        """An idempotent producer out of step with the broker (its sequence numbers lost in a broker restart) never
        sends again: a new one (a new producer id) takes its place, once however many answers saw it fail."""
        async with self._renewing:
            if self.producer is not broken or self.make_producer is None:
                return
            fresh = self.make_producer()
            try:
                await asyncio.wait_for(fresh.start(), 30)
            except (KafkaError, TimeoutError) as exc:  # the broker still away: the next failure tries again
                log.warning("simulators.producer_not_renewed", error=repr(exc))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(fresh.stop(), 10)
                return
            self.producer = fresh
            log.warning("simulators.producer_renewed")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broken.stop(), 10)

    async def reply(self, topic: str, key: str, message: Message) -> None:
        """Sends one update. With no delay between steps, a request's updates leave together (in order: one
        partition) and `answer` waits for their acknowledgements at its end."""
        headers = [(k, v.encode()) for k, v in cloudevent_headers(message, "partner-simulator").items()]
        if not self.delay:
            _unacked.get().append(await self.producer.send(topic, encode(message), key=key.encode(), headers=headers))
            return
        await asyncio.sleep(self.delay * self.rng.uniform(0.5, 1.5))
        await self.producer.send_and_wait(topic, encode(message), key=key.encode(), headers=headers)

    async def warehouse(self, location_id: str, body: dict[str, object], fails: bool) -> None:
        if str(body["type"]).startswith("transfer."):
            await self.transfer(location_id, body)
            return
        updates, order_id = topics.WAREHOUSE_UPDATES.for_partner(location_id), str(body["order_id"])
        if body["type"] == "return.expected":  # the parcel comes back; a share of the units is damaged
            await self.reply(updates, order_id, ReturnReceived(return_id=str(body["return_id"]), lines=[
                ReturnedLine(sku=str(line["sku"]), quantity=int(line["quantity"]),
                             condition="damaged" if self.rng.random() < self.damaged_rate else "resellable")
                for line in body["lines"]]))  # type: ignore[attr-defined]
            return
        fid = str(body["fulfillment_id"])
        if body["type"] == "fulfillment.cancel_requested":  # the whole fulfillment, or the lines asked for
            answer: Message = (FulfillmentCancelRefused(fulfillment_id=fid, reason="already packed")
                               if fid in self.packed else FulfillmentCancelled(fulfillment_id=fid,
                                                                               lines=body.get("lines")))
            await self.reply(updates, order_id, answer)
            return
        if body["type"] == "fulfillment.changed":  # the label is printed with the new address; nothing to answer
            return
        if fails:
            await self.reply(updates, order_id, FulfillmentRejected(fulfillment_id=fid, reason="not found on shelf"))
            return
        await self.reply(updates, order_id, FulfillmentAccepted(fulfillment_id=fid))
        await self.reply(updates, order_id, FulfillmentPicked(fulfillment_id=fid))
        if body.get("pickup"):  # click and collect: at the counter, and a share of the customers never come
            await self.reply(updates, order_id, FulfillmentReadyForPickup(fulfillment_id=fid))
            if self.rng.random() >= self.no_show_rate:
                await self.reply(updates, order_id, FulfillmentCollected(fulfillment_id=fid))
            return
        units = sum(int(line["quantity"]) for line in body["lines"])  # type: ignore[attr-defined, misc]
        self.packed.add(fid)
        await self.reply(updates, order_id, FulfillmentPacked(fulfillment_id=fid, parcels=[
            Parcel(parcel_id=f"{fid}-P1", weight_grams=800 * units, length_cm=40, width_cm=30, height_cm=20)]))

    async def transfer(self, location_id: str, body: dict[str, object]) -> None:
        """The source sends what it is asked for, there tomorrow; the destination counts what arrived, a unit short
        now and then (`OMS_SIM_TRANSFER_SHORT_RATE`)."""
        updates, transfer_id = topics.WAREHOUSE_UPDATES.for_partner(location_id), str(body["transfer_id"])
        quantity = int(body["quantity"])  # type: ignore[call-overload]
        if body["type"] == "transfer.requested":
            await self.reply(updates, transfer_id, TransferShipped(
                transfer_id=transfer_id, quantity=quantity, eta=datetime.now(UTC) + timedelta(days=1)))
        elif body["type"] == "transfer.expected":
            short = 1 if self.rng.random() < self.transfer_short_rate else 0
            await self.reply(updates, transfer_id, TransferReceived(transfer_id=transfer_id,
                                                                    quantity=quantity - short))

    async def supplier(self, supplier_id: str, body: dict[str, object], fails: bool) -> None:
        """A drop-ship supplier acknowledges and ships each purchase order (refuses one at the failure rate):
        with a carrier of the network it books itself, giving the OMS its tracking number, or (the others) with the
        parcels ready for a carrier the OMS books."""
        updates, po = topics.SUPPLIER_UPDATES.for_partner(supplier_id), str(body["po_id"])
        order_id = str(body["order_id"])
        if body["type"] == "purchase_order.cancelled":
            self.withdrawn.add(po)
        if body["type"] != "purchase_order.requested":
            return
        if fails:
            await self.reply(updates, order_id, PurchaseOrderRejected(po_id=po, reason="sold out at the supplier"))
            return
        await self.reply(updates, order_id, PurchaseOrderAcknowledged(po_id=po))
        if po in self.withdrawn:
            return
        country, level = body["ship_to"]["country"], body.get("service_level")  # type: ignore[index]
        carrier = next((c.id for c in self.carriers for lane in c.lanes
                        if lane.service_level == level and country in lane.countries), None)
        if carrier and body.get("shipment_id") and self.rng.random() < self.supplier_carrier_rate:
            tracking = f"{carrier.upper()}{self.rng.randrange(10**9, 10**10)}"
            await self.reply(updates, order_id, PurchaseOrderShipped(po_id=po, carrier_id=carrier,
                                                                     tracking_number=tracking))
        else:
            await self.reply(updates, order_id, PurchaseOrderShipped(po_id=po))

    async def payments(self, _: str, body: dict[str, object], fails: bool) -> None:
        """Captures are taken (declined for a reference starting with `decline`); refunds need no answer."""
        if body["type"] != "payment.capture_requested":
            return
        order_id, sid = str(body["order_id"]), str(body["shipment_id"])
        if str(body.get("payment_reference") or "").startswith("decline"):
            answer: Message = PaymentCaptureFailed(order_id=order_id, shipment_id=sid, reason="card declined")
        else:
            answer = PaymentCaptured(order_id=order_id, shipment_id=sid)
        await self.reply(topics.PAYMENT_UPDATES.name, order_id, answer)

    async def carrier(self, carrier_id: str, body: dict[str, object], fails: bool) -> None:
        updates = topics.CARRIER_UPDATES.for_partner(carrier_id)
        if body["type"] == "pickup.requested":  # comes, or (`OMS_SIM_PICKUP_MISS_RATE`) does not
            pickup_id = str(body["pickup_id"])
            answer: Message = PickupMissed(pickup_id=pickup_id, reason="the van did not make it") if \
                self.rng.random() < self.pickup_miss_rate else PickupConfirmed(pickup_id=pickup_id)
            await self.reply(updates, pickup_id, answer)
            return
        order_id, sid = str(body.get("order_id")), str(body.get("shipment_id"))
        if body["type"] == "shipment.tracking_requested":  # a supplier booked it: it comes, and goes its way
            await self.reply(updates, order_id, ShipmentPickedUp(shipment_id=sid))
            await self.reply(updates, order_id, ShipmentInTransit(shipment_id=sid))
            await self.reply(updates, order_id, ShipmentDelivered(shipment_id=sid, delivered_at=datetime.now(UTC)))
            return
        if body["type"] != "shipment.booking_requested":
            return
        if fails:
            await self.reply(updates, order_id, ShipmentBookingFailed(shipment_id=sid, reason="no capacity today"))
            return
        now = datetime.now(UTC)
        tracking = f"{carrier_id.upper()}{self.rng.randrange(10**9, 10**10)}"
        await self.reply(updates, order_id, ShipmentBooked(
            shipment_id=sid, tracking_number=tracking, pickup_at=now, estimated_delivery=now + timedelta(days=2)))
        await self.reply(updates, order_id, ShipmentPickedUp(shipment_id=sid))
        await self.reply(updates, order_id, ShipmentInTransit(shipment_id=sid))
        if self.rng.random() < self.exception_rate:  # a hitch on the way, sorted out: delivered all the same
            await self.reply(updates, order_id, ShipmentException(shipment_id=sid, reason="address needs checking"))
        await self.reply(updates, order_id, ShipmentDelivered(shipment_id=sid, delivered_at=datetime.now(UTC)))


async def play(settings: Settings, kind: str, partner: str, options: dict[str, float], rng: random.Random,
               stop: asyncio.Event) -> None:
    """One partner, logged in as that partner (its principal reads its requests and writes its updates, nothing
    else), answering each request as it comes."""
    who = principal(kind, partner)
    requests = requests_topic(kind, partner)

    def make_producer() -> AIOKafkaProducer:
        return AIOKafkaProducer(**client_options(settings, who), acks="all", enable_idempotence=True, linger_ms=2)
    producer = make_producer()
    consumer = AIOKafkaConsumer(requests, **client_options(settings, who),
                                group_id=f"{who}.simulator{settings.consumer_group_suffix}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    partners = Partners(producer, options["delay"], options["failure"], rng, options["damaged"], make_producer,
                        options["no_show"], options["exception"], options["pickup_miss"], options["transfer_short"],
                        options["supplier_carrier"], tuple(load_network(settings.network_file).carriers))
    offsets, tasks = Offsets(), set()
    respond = {"warehouse": partners.warehouse, "carrier": partners.carrier, "supplier": partners.supplier,
               PAYMENTS: partners.payments}[kind]

    async def answer(record: ConsumerRecord, attempts: int = 8) -> None:
        """A partner answers every request; one whose answer could not be sent (the broker away) sends it all
        again, as a real partner would: the OMS ignores the updates it already has."""
        tp = TopicPartition(record.topic, record.partition)
        fails = partners.rng.random() < partners.failure_rate  # drawn once: a retry gives the same answer
        try:
            body = orjson.loads(record.value)
            for attempt in range(1, attempts + 1):
                unacked: list[asyncio.Future[object]] = []
                _unacked.set(unacked)
                producer = partners.producer
                try:
                    await asyncio.wait_for(respond(partner, body, fails), 60)
                    await asyncio.wait_for(asyncio.gather(*unacked), 60)
                    return
                except (KafkaError, TimeoutError) as exc:
                    log.warning("simulators.answer_failed", error=repr(exc), attempt=attempt)
                    if isinstance(exc, OutOfOrderSequenceNumber | UnknownProducerId):
                        await partners.renew(producer)
                    await asyncio.sleep(min(0.5 * 2 ** attempt, 10))
        except Exception as exc:
            log.warning("simulators.request_ignored", error=repr(exc))
        finally:
            offsets.done(tp, record.offset)

    committed_at = 0.0
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batch.items():
                for record in records:
                    offsets.start(tp, record.offset)
                    task = asyncio.create_task(answer(record))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            # at most every 0.2 s (a restart answers that much again), and only what moved
            if time.monotonic() - committed_at > 0.2 and (moved := offsets.committable(consumer.assignment())):
                try:
                    await consumer.commit(moved)
                except (CommitFailedError, IllegalStateError) as exc:  # a rebalance under way: the next round retries
                    log.warning("simulators.commit_deferred", error=repr(exc))
                else:
                    offsets.mark(moved)
                committed_at = time.monotonic()
    finally:
        for task in tasks:
            task.cancel()
        await consumer.stop()
        await partners.producer.stop()


async def main() -> None:
    settings = get_settings()
    configure_logging("simulators", settings.log_level)
    network = load_network(settings.network_file)
    partners = played_partners(settings.simulate_partners, network)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    if not partners:
        log.warning("simulators.none_played")
        await stop.wait()
        return
    options = {"delay": float(os.environ.get("OMS_SIM_DELAY_MS", "300")) / 1000,
               "failure": float(os.environ.get("OMS_SIM_FAILURE_RATE", "0")),
               "damaged": float(os.environ.get("OMS_SIM_DAMAGED_RATE", "0.1")),
               "no_show": float(os.environ.get("OMS_SIM_NO_SHOW_RATE", "0.05")),
               "exception": float(os.environ.get("OMS_SIM_EXCEPTION_RATE", "0")),
               "pickup_miss": float(os.environ.get("OMS_SIM_PICKUP_MISS_RATE", "0.1")),
               "transfer_short": float(os.environ.get("OMS_SIM_TRANSFER_SHORT_RATE", "0.1")),
               "supplier_carrier": float(os.environ.get("OMS_SIM_SUPPLIER_CARRIER_RATE", "0.5"))}
    rng = random.Random(os.environ.get("OMS_SIM_SEED"))
    players = [asyncio.create_task(play(settings, kind, ident, options, rng, stop)) for kind, ident in partners]
    log.warning("simulators.started", locations=[i for k, i in partners if k == "warehouse"],  # at every log level
                carriers=[i for k, i in partners if k == "carrier"], payments=(PAYMENTS, PAYMENTS) in partners,
                suppliers=[i for k, i in partners if k == "supplier"],
                frozen_objects=freeze_startup_objects())
    done, _ = await asyncio.wait(players, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()  # a partner that failed to start ends the process, with its error


if __name__ == "__main__":
    uvloop.run(main())
