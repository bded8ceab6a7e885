"""`make demo`: the whole OMS on this machine, a realistic mix of orders through it, progress and a summary."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from contracts import topics
from contracts.channels import order_id_for
from devstack.stack import Stack, port_open
from oms_cli import processes, workload
from oms_cli.queries import inventory as inventory_read
from oms_cli.queries import orders as orders_read
from oms_cli.watch import TERMINAL, WAITING, OrderWatch
from rules.network import load_network
from runtime import security, signing
from runtime.security import OPERATOR, OPERATOR_ACT, client_options
from runtime.settings import REPO_ROOT, Settings, get_settings

console = Console(width=None if Console().is_terminal else 150)
STAGES = ("accepted", "reserved", "released", "in_fulfillment", "ready_to_ship", "shipped", "delivered",
          "ready_for_pickup", "collected")
ORDERED = ("received", "accepted", "reserved", "released", "in_fulfillment", "ready_to_ship", "shipped", "delivered",
           "ready_for_pickup", "collected", "return_requested", "returned", "on_hold", "backordered", "cancelled",
           "rejected")
RETURN_SHARE = 0.15  # of the delivered orders, sent back once the first wave settled
PARTIAL_CANCEL_SHARE = 0.05  # of the orders with more than one unit: one unit cancelled right after placing


def run_demo(orders: int, delay_ms: int) -> None:
    settings = get_settings()
    stack = Stack(settings)
    stack_was_up = port_open(settings.kafka_port) and port_open(settings.postgres_port)
    with console.status("starting Kafka and PostgreSQL"):
        stack.up()
    console.print(stack.describe())
    started = processes.start_all(settings, {"OMS_SIM_DELAY_MS": str(delay_ms),  # a carrier's hitch now and then
                                             "OMS_SIM_EXCEPTION_RATE": os.environ.get("OMS_SIM_EXCEPTION_RATE", "0.03")})
    began = datetime.now().astimezone()
    try:
        with console.status(f"starting {len(started)} processes (6 services and the partner simulators)"):
            processes.wait_started(settings, started)
        split = asyncio.run(drive(settings, orders))
        if split:
            from oms_cli.orders import order

            console.print("[bold]One order that needed two locations, its full timeline:[/bold]")
            order(split)
            token = signing.tracking_token(security.tracking_secret(settings), split)
            console.print(f"its customer's tracking page: {settings.gateway_url}/track/{token} (while `make up` runs)")
        from oms_cli import report, whatif
        rules = REPO_ROOT / "config" / "routing-cost.toml"
        compared = whatif.run(settings, began, whatif.rules_from(rules, load_network(settings.network_file)))
        console.print(whatif.table(compared, "weighing cost and promise (config/routing-cost.toml)"))
        path = report.write(settings, began, settings.home / "reports" / f"demo-{began:%Y%m%dT%H%M%S}.html")
        console.print(f"[bold]report:[/bold] {path}")
    finally:
        with console.status("stopping what the demo started"):
            processes.stop_all(settings, started)
            if not stack_was_up:
                stack.down()


async def post_signed(settings: Settings, orders: list[dict]) -> list[float]:
    """Posts orders to the gateway as their channel's web shop would (signed, 10 at a time); returns how long each
    took to be accepted (202: on the broker)."""
    import httpx

    took: list[float] = []
    limit = asyncio.Semaphore(10)
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30,
                                 limits=httpx.Limits(keepalive_expiry=10)) as client:  # before the gateway's 30 s
        async def post(order: dict) -> None:
            body = orjson.dumps({k: v for k, v in order.items() if k != "id"})
            secret = security.channel_secrets(settings, order["channel"])[0]
            async with limit:
                began = time.monotonic()
                answer = await client.post(f"/v1/channels/{order['channel']}/orders", content=body,
                                            headers={signing.HEADER: signing.sign(secret, body)})
                took.append(time.monotonic() - began)
            if answer.status_code != 202:
                raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
        await asyncio.gather(*(post(o) for o in orders))
    return took


async def ask_promises(settings: Settings, orders: list[dict], share: float = 0.5, slots: float = 0.5,
                       seed: int = 17) -> list[float]:
    """A `share` of these orders' shops ask the OMS what it would promise before checkout (`POST .../promises`,
    signed); the order then names the option its customer took (`quote_id`), and a share `slots` of those with
    delivery windows picks one. Returns how long each quote took."""
    import httpx

    rng, took = random.Random(seed), []
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
        for order in [o for o in orders if rng.random() < share]:
            pickup = (order.get("delivery") or {}).get("pickup_location_id")
            address = order["shipping_address"]
            ask = {"lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in order["lines"]],
                   "shipping_speed": order["shipping_speed"], **({"pickup_location_id": pickup} if pickup else {
                       "destination": {"country": address["country"], "postal_code": address["postal_code"]}})}
            body = orjson.dumps(ask)
            began = time.monotonic()
            answer = await client.post(f"/v1/channels/{order['channel']}/promises", content=body, headers={
                signing.HEADER: signing.sign(security.channel_secrets(settings, order["channel"])[0], body)})
            took.append(time.monotonic() - began)
            options = answer.json().get("options", []) if answer.status_code == 200 else []
            chosen = next((o for o in options if o["method"] == ("pickup" if pickup else "ship")), None)
            if chosen is None:
                continue
            order["quote_id"] = chosen["quote_id"]
            if chosen["slots"] and not pickup and rng.random() < slots:
                order["delivery"] = {"method": "ship", "window": rng.choice(chosen["slots"][:4])}
    return took


async def send_all(settings: Settings, items: list[tuple[str, str, bytes]], who: str = OPERATOR_ACT) -> None:
    """Sends (topic, key, value) items as `who`: operators, by default, who may place orders and count stock."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings, who), acks="all", enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key.encode()) for topic, key, value in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def seed_stock(settings: Settings, run: str, orders: int) -> None:
    counts = workload.stock_counts(run, orders)
    await send_all(settings, [(topics.INVENTORY_ADJUSTMENTS.name, c["sku"], orjson.dumps(c)) for c in counts])
    conn = await asyncpg.connect(settings.database_for("inventory"))
    try:
        deadline = time.monotonic() + 60
        while await inventory_read.skus_counted(conn, f"{run}-") < len(counts):
            if time.monotonic() > deadline:
                raise TimeoutError("inventory did not take the stock counts")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def progress(watch: OrderWatch, total: int, elapsed: float) -> Panel:
    counts = watch.statuses()
    table = Table.grid(padding=(0, 1))
    for status in ORDERED:
        n = counts.get(status, 0)
        colour = "green" if status == "delivered" else "yellow" if status in WAITING else \
            "red" if status in TERMINAL else "cyan"
        table.add_row(f"{status:>15}", f"[{colour}]{'█' * round(50 * n / max(total, 1)):<50}[/]", f"{n:>5}")
    return Panel(table, title=f"{len(watch.latest())}/{total} orders seen, {elapsed:.0f}s")


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99) of what was seen, between the smallest and the largest value; NaN for nothing."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(watch: OrderWatch, placed: dict[str, datetime],
            documents: dict[str, tuple[Decimal, Decimal]] | None = None) -> Group:
    statuses = Table("status", "orders", title="Orders per status")
    for status, n in sorted(watch.statuses().items(), key=lambda kv: ORDERED.index(kv[0])):
        statuses.add_row(status, str(n))
    timings = Table("stage", "p50", "p95", "orders", title="Time from placement to each stage (s)")
    for stage in STAGES:
        waits = [(datetime.fromisoformat(e["occurred_at"]) - placed[e["external_id"]]).total_seconds()
                 for events in watch.events.values() for e in events
                 if e["status"] == stage and e["previous_status"] != stage and e["external_id"] in placed]
        if waits:
            timings.add_row(stage, f"{percentile(waits, 50):.2f}", f"{percentile(waits, 95):.2f}", str(len(waits)))
    by_location: Counter[str] = Counter()
    by_carrier: Counter[str] = Counter()
    for event in watch.latest().values():
        for shipment in event["shipments"]:
            by_location[shipment["location_id"]] += 1
            by_carrier[shipment.get("carrier_id") or "(none yet)"] += 1
    shipments = Table("location", "shipments", title="Shipments per location")
    for location, n in by_location.most_common():
        shipments.add_row(location, str(n))
    carriers = Table("carrier", "shipments", title="Shipments per carrier")
    for carrier, n in by_carrier.most_common():
        carriers.add_row(carrier, str(n))
    return Group(statuses, timings, shipments, carriers, returns_summary(watch), changes_summary(watch),
                 pickups_summary(watch), money_summary(watch, documents or {}), dropship_summary(watch))


def dropship_summary(watch: OrderWatch) -> Table:
    """The shipments drop-ship suppliers sent straight to customers (purchase orders), and by which carrier."""
    suppliers = set(load_network(get_settings().network_file).suppliers)
    table = Table("supplier", "purchase orders", "delivered", "carriers", title="Drop-shipped by suppliers")
    rows: dict[str, tuple[int, int, Counter[str]]] = {}
    for event in watch.latest().values():
        for shipment in event["shipments"]:
            if shipment["location_id"] in suppliers:
                count, delivered, carriers = rows.get(shipment["location_id"], (0, 0, Counter()))
                carriers[shipment.get("carrier_id") or "(none yet)"] += 1
                rows[shipment["location_id"]] = (count + 1, delivered + (shipment.get("status") == "delivered"),
                                                 carriers)
    for supplier, (count, delivered, carriers) in sorted(rows.items()):
        table.add_row(supplier, str(count), str(delivered), ", ".join(f"{c} {n}" for c, n in carriers.most_common()))
    table.caption = "purchase orders on partners.supplier.<id>.requests.v1; a supplier books its own carrier or " \
        "the OMS books one" if rows else "none (no order for what only a supplier has)"
    return table


def pickups_summary(watch: OrderWatch) -> Table:
    """Click and collect per store (picked there, or shipped there first), and the promises the OMS broke."""
    table = Table("store", "pickups", "from its own shelf", "shipped to it", "collected", "at the counter",
                  "not collected", title="Pickups per store")
    rows: dict[str, list[int]] = {}
    for event in watch.latest().values():
        pickups = [s for s in event["shipments"] if s.get("pickup")]
        if not pickups:
            continue
        row = rows.setdefault(pickups[0]["location_id"], [0, 0, 0, 0, 0, 0])
        row[0] += 1
        row[2 if any(s.get("to_store") for s in event["shipments"]) else 1] += 1
        column = {"collected": 3, "ready_for_pickup": 4, "cancelled": 5}.get(event["status"])
        if column:
            row[column] += 1
    for store, counts in sorted(rows.items()):
        table.add_row(store, *map(str, counts))
    codes: Counter[str] = Counter(e["reason"]["code"] for events in watch.events.values() for e in events
                                  if e.get("reason"))
    late = {oid for oid, events in watch.events.items() for e in events
            if (e.get("reason") or {}).get("code") in ("late_to_ship", "late_delivery")}
    table.caption = (f"late orders: {len(late)} (late to ship {codes.get('late_to_ship', 0)}, "
                     f"late delivery {codes.get('late_delivery', 0)}); pickup reminders {codes.get('pickup_reminder', 0)}")
    return table


def money_summary(watch: OrderWatch, documents: dict[str, tuple[Decimal, Decimal]]) -> Table:
    """Per channel: captured and refunded as the payment events said, and whether the invoices and credit notes
    the OMS issued (`documents`: channel -> captured, refunded) add up to the same."""
    table = Table("channel", "captures", "captured", "refunds", "refunded", "net", "documents agree",
                  title="Money per channel (EUR)")
    channels = {c for c, _ in workload.CHANNELS} | set(documents)
    for channel in sorted(channels):
        captures = [Decimal(c["amount"]) for c in watch.captures if c["channel"] == channel]
        refunds = [Decimal(r["amount"]) for r in watch.refunds if r["order_id"] in watch.events
                   and watch.events[r["order_id"]][0]["channel"] == channel]
        if not captures and not refunds:
            continue
        captured, refunded = sum(captures, Decimal(0)), sum(refunds, Decimal(0))
        agree = documents.get(channel) == (captured, refunded)
        table.add_row(channel, str(len(captures)), str(captured), str(len(refunds)), str(refunded),
                      str(captured - refunded), "yes" if agree else f"no: {documents.get(channel)}")
    return table


def changes_summary(watch: OrderWatch) -> Table:
    """What customers changed after placing: partial cancels done or refused, returns refused, refunds."""
    table = Table("what", "count", title="Changes of mind, and what channels were told")
    codes: Counter[str] = Counter(e["reason"]["code"] for events in watch.events.values() for e in events
                                  if e.get("reason"))
    for code, what in (("lines_cancelled", "units cancelled (partial cancels done)"),
                       ("cancel_refused", "cancels refused (too late)"), ("return_refused", "returns refused")):
        table.add_row(what, str(codes.get(code, 0)))
    told = sum(len(numbers) for numbers in watch.availability.values())
    table.add_row("availability told to channels", f"{told} changes over {len(watch.availability)} SKU x channel")
    for why in ("returned", "cancelled"):
        refunds = [r for r in watch.refunds if r.get("reason", "returned") == why]
        table.add_row(f"refunds requested ({why})", f"{len(refunds)}, {sum(float(r['amount']) for r in refunds):.2f} EUR")
    return table


def returns_summary(watch: OrderWatch) -> Table:
    """Returns asked for and received, refunds requested, and units back on hand or written off per location."""
    table = Table("location", "returns", "received", "units restocked", "units damaged", "refunded (EUR)",
                  title="Returns per location")
    rows: dict[str, list[float]] = {}
    for event in watch.latest().values():
        for returned in event.get("returns", []):
            row = rows.setdefault(returned["location_id"], [0, 0, 0, 0, 0.0])
            row[0] += 1
            if returned["status"] == "received":
                row[1] += 1
                for line in returned["received"]:
                    row[2 if line["condition"] == "resellable" else 3] += line["quantity"]
    for refund in watch.refunds:
        returned_at = refund.get("location_id")
        if returned_at in rows:
            rows[returned_at][4] += float(refund["amount"])
    for location, (asked, received, restocked, damaged, refunded) in sorted(rows.items()):
        table.add_row(location, str(int(asked)), str(int(received)), str(int(restocked)), str(int(damaged)),
                      f"{refunded:.2f}")
    return table


async def scheduling_summary(settings: Settings, watch: OrderWatch, orders: list[dict], began: datetime) -> Group:
    """Quotes kept, changed or expired; the delivery windows given per carrier and day (of their capacity); the
    carriers' pickups confirmed and missed."""
    from oms_cli.queries import partners as partners_read

    reasons = {oid: {(e.get("reason") or {}).get("code") for e in events} for oid, events in watch.events.items()}
    on_quote = [order_id_for(o["channel"], o["external_id"]) for o in orders if o.get("quote_id")]
    quotes = Table("orders on a quote", "kept", "changed", "expired", "not reserved yet", title="Quotes")
    reserved = [oid for oid in on_quote if "reserved" in {e["status"] for e in watch.events.get(oid, [])}]
    changed = sum(1 for oid in on_quote if "quote_changed" in reasons.get(oid, set()))
    expired = sum(1 for oid in on_quote if "quote_expired" in reasons.get(oid, set()))
    quotes.add_row(str(len(on_quote)), str(len(reserved) - changed - expired), str(changed), str(expired),
                   str(len(on_quote) - len(reserved)))
    network = load_network(settings.network_file)
    capacity = {(c.id, z.zone): z.capacity for c in network.carriers for z in c.slots}
    fill = Table("carrier", "zone", "day", "windows used", "deliveries", "of capacity", title="Delivery windows given")
    per_day: dict[tuple[str, str, str], list[int]] = {}
    for row in await partners_read.slots_from(settings, datetime.now().astimezone().replace(hour=0, minute=0)):
        counts = per_day.setdefault((row["carrier_id"], row["zone"], f"{row['starts_at']:%a %d %b}"), [0, 0, 0])
        counts[0], counts[1] = counts[0] + 1, counts[1] + row["claimed"]
        counts[2] += capacity.get((row["carrier_id"], row["zone"]), 0)
    for (carrier, zone, day), (used, given, room) in sorted(per_day.items()):
        fill.add_row(carrier, zone, day, str(used), str(given), f"{given / room:.0%}" if room else "")
    held = sum(1 for codes in reasons.values() if "slot_full" in codes)
    fill.caption = f"orders held for a full window: {held}"
    pickups: Counter[tuple[str, str, str]] = Counter(
        (r["location_id"], r["carrier_id"], r["status"]) for r in await partners_read.pickups_since(settings, began))
    picked = Table("location", "carrier", "confirmed", "missed", "waiting", title="Carrier pickups during the run")
    for location, carrier in sorted({(loc, car) for loc, car, _ in pickups}):
        picked.add_row(location, carrier, *(str(pickups[(location, carrier, s)]) for s in ("confirmed", "missed",
                                                                                            "requested")))
    picked.caption = "" if pickups else "none due during the run (see the network file's `pickups`; `oms pickups`)"
    return Group(quotes, fill, picked, await transfers_summary(settings, began))


async def transfers_summary(settings: Settings, began: datetime) -> Table:
    """The transfers asked for during the run (inventory's proposals and operators'), as far as they came."""
    moved = Table("transfer", "sku", "from", "to", "asked", "shipped", "received", "status", "why",
                  title="Transfers between locations during the run")
    rows = [r for r in await inventory_read.transfers(settings, True) if r["created_at"] >= began]
    for row in rows[:12]:
        moved.add_row(row["transfer_id"], row["sku"], row["from_location_id"], row["to_location_id"],
                      str(row["quantity"]), str(row["shipped"] or ""), str(row["received"] or ""), row["status"],
                      row["reason"] or "")
    moved.caption = f"{len(rows)} in all (`oms transfers --all`)" if rows else \
        "none (the network file's `\\[transfers]` proposes them; `oms transfer` asks for one)"
    return moved


async def settled_documents(settings: Settings, watch: OrderWatch) -> dict[str, tuple[Decimal, Decimal]]:
    """The run's invoices and credit notes per channel, once the payment events seen add up to them (the events
    leave after the commit that issued the documents: a few seconds at most)."""
    began = time.monotonic()
    while True:
        documents = await orders_read.money_by_channel(settings, list(watch.events))
        seen = {c: (sum((Decimal(x["amount"]) for x in watch.captures if x["channel"] == c), Decimal(0)),
                    sum((Decimal(r["amount"]) for r in watch.refunds
                         if watch.events[r["order_id"]][0]["channel"] == c), Decimal(0))) for c in documents}
        if seen == documents or time.monotonic() - began > 10:
            return documents
        await asyncio.sleep(0.25)


async def purchase_order(settings: Settings, watch: OrderWatch, run: str) -> None:
    """A purchase order for the rare SKU the run ran out of: its line dates the orders waiting for it (each told
    once), then it arrives and serves them, oldest first."""
    sku = workload.sku(run, "CLOCK")
    waiting = [oid for oid, e in watch.latest().items() if e["status"] == "backordered"]
    if not waiting:
        return
    line = {"sku": sku, "location_id": "dc-rotterdam", "po_id": f"PO-{run}"}
    eta = datetime.now(UTC) + timedelta(days=2)
    await send_all(settings, [(topics.INVENTORY_ADJUSTMENTS.name, sku, orjson.dumps({
        "type": "stock.inbound_expected", "id": str(uuid.uuid4()), **line, "quantity": 3 * len(waiting) + 5,
        "eta": eta.isoformat()}))])
    began = time.monotonic()
    while time.monotonic() - began < 20 and not all(
            any((e.get("reason") or {}).get("code") == "eta_changed" for e in watch.events[oid]) for oid in waiting):
        await asyncio.sleep(0.25)
    dated = sum(1 for oid in waiting if any((e.get("reason") or {}).get("code") == "eta_changed"
                                            for e in watch.events[oid]))
    console.print(f"purchase order PO-{run}: {3 * len(waiting) + 5} x {sku} due {eta:%a %d %b}; {dated} of the "
                  f"{len(waiting)} waiting orders were told their date")
    await send_all(settings, [(topics.INVENTORY_ADJUSTMENTS.name, sku, orjson.dumps({
        "type": "stock.received", "id": str(uuid.uuid4()), **line, "quantity": 3 * len(waiting) + 5}))])
    while time.monotonic() - began < 90 and any(watch.latest()[oid]["status"] == "backordered" for oid in waiting):
        await asyncio.sleep(0.25)
    console.print(f"it arrived: {sum(1 for oid in waiting if watch.latest()[oid]['status'] != 'backordered')} of "
                  "them are on their way, the oldest first")


async def transfer_done(settings: Settings, began: datetime) -> None:
    """Waits (up to the network file's `check_every_s` and a little) for a transfer inventory proposed during the run
    to be received, and says so."""
    rules = load_network(settings.network_file).transfers
    if rules is None:
        return
    deadline = time.monotonic() + rules.check_every_s + 15
    while time.monotonic() < deadline:
        done = [r for r in await inventory_read.transfers(settings, True) if r["created_at"] >= began
                and r["status"] == "received"]
        if done:
            row = done[0]
            console.print(f"inventory proposed a transfer: {row['quantity']} x {row['sku']} from "
                          f"{row['from_location_id']} to {row['to_location_id']} ({row['reason']}); "
                          f"{row['received']} arrived")
            return
        await asyncio.sleep(1)


async def drive(settings: Settings, count: int) -> str | None:
    """Runs the orders through; returns an order that was split, to show its timeline."""
    run, run_began = workload.new_run_id(), datetime.now().astimezone()
    console.print(f"[bold]run {run}[/bold]: seeding stock at {len(workload.LOCATIONS)} locations")
    await seed_stock(settings, run, count)
    lamp = workload.sku(run, "LAMP")  # below its reorder point in Paris: inventory proposes a transfer
    await send_all(settings, [(topics.INVENTORY_ADJUSTMENTS.name, lamp, orjson.dumps({
        "type": "stock.counted", "id": str(uuid.uuid4()), "sku": lamp, "location_id": "store-paris", "on_hand": 2}))])
    orders = workload.orders(run, count, workload.Mix.demo())
    watch = OrderWatch(client_options(settings, OPERATOR), run)
    await watch.start()
    placed = {o["external_id"]: datetime.fromisoformat(o["placed_at"]) for o in orders}
    bad = [b"{this is not json", orjson.dumps({"type": "order.submitted", "id": "bad-1", "channel": "web",
                                               "external_id": f"{run}-BAD-1"})]
    over_http = [o for n, o in enumerate(orders) if o["channel"] == "web" and n % 4 == 0]
    on_kafka = [o for o in orders if o not in over_http]
    quoted = await ask_promises(settings, over_http)
    console.print(f"{len(quoted)} of the web shop's customers were shown the delivery options before checkout "
                  f"(quotes in p50 {percentile(quoted, 50) * 1000:.0f} ms, p95 {percentile(quoted, 95) * 1000:.0f} ms); "
                  f"{sum(1 for o in over_http if 'window' in (o.get('delivery') or {}))} chose a delivery window")
    await send_all(settings, [(topics.ORDERS_INBOUND.name, f"{o['channel']}:{o['external_id']}", orjson.dumps(o))
                              for o in on_kafka] + [(topics.ORDERS_INBOUND.name, "web:bad", b) for b in bad])
    took = await post_signed(settings, over_http)
    console.print(f"submitted {count} orders across {len(workload.CHANNELS)} channels (and 2 malformed messages); "
                  f"{len(over_http)} of the web shop's came over HTTP through the gateway, signed "
                  f"(202 in p50 {percentile(took, 50) * 1000:.0f} ms, p95 {percentile(took, 95) * 1000:.0f} ms)")
    cancels = workload.partial_cancels(orders, PARTIAL_CANCEL_SHARE)
    await send_all(settings, [(topics.ORDERS_INBOUND.name, f"{c['channel']}:{c['external_id']}", orjson.dumps(c))
                              for c in cancels])
    console.print(f"{len(cancels)} customers cancel one unit of their order")
    started = time.monotonic()
    try:
        with Live(progress(watch, count + 1, 0), console=console, refresh_per_second=4) as live:
            while not watch.settled(count + 1) and time.monotonic() - started < 300:
                await asyncio.sleep(0.25)
                live.update(progress(watch, count + 1, time.monotonic() - started))
        await purchase_order(settings, watch, run)
        await transfer_done(settings, run_began)
        asked = workload.returns([e for e in watch.latest().values() if e["status"] == "delivered"], RETURN_SHARE)
        if asked:
            await send_all(settings, [(topics.ORDERS_INBOUND.name, f"{r['channel']}:{r['external_id']}",
                                       orjson.dumps(r)) for r in asked])
            console.print(f"{len(asked)} customers send (part of) their order back")
            began = time.monotonic()
            with Live(progress(watch, count + 1, 0), console=console, refresh_per_second=4) as live:
                while watch.count("return_requested") or len(watch.reached["return_requested"]) < len(asked):
                    if time.monotonic() - began > 120:
                        break
                    await asyncio.sleep(0.25)
                    live.update(progress(watch, count + 1, time.monotonic() - started))
        console.print(summary(watch, placed, await settled_documents(settings, watch)))
        console.print(await scheduling_summary(settings, watch, orders, run_began))
        return next((oid for oid, e in watch.latest().items() if len(e["shipments"]) > 1), None)
    finally:
        await watch.stop()
