"""`oms`: the operators' command line: orders and their timelines, stock, and the stack in the background."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.table import Column

from devstack.stack import Stack, migrate_databases, write_private
from gateway_service.agents import ROLES
from inventory_service.domain import Level
from oms_cli import erase, operator, processes
from oms_cli.agents import login_link, with_agents
from oms_cli.orders import console, order, order_column, whole
from oms_cli.queries import inventory as inventory_read
from oms_cli.queries import orders as orders_read
from oms_cli.queries import outgoing
from oms_cli.queries import parked as parked_read
from oms_cli.queries import partners as partners_read
from oms_cli.tables import Table, styled
from rules.network import load_network
from runtime import metrics, security
from runtime.kafka_tools import consumer_lag
from runtime.settings import get_settings

app = typer.Typer(help="Operate the OMS: look at orders and stock, run the stack.", no_args_is_help=True)


@app.command("order")
def order_command(args: Annotated[list[str], typer.Argument(help="<order> | cancel <order>; an order is its id or "
                                                                  "channel:external_id")],
                  reason: Annotated[str | None, typer.Option(help="why, for `cancel`")] = None,
                  operator_: Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")] = None
                  ) -> None:
    """One order with its lines and full timeline; `oms order cancel <order>` asks to cancel it, saying who asked."""
    if args[0] == "cancel" and len(args) == 2:
        body = asyncio.run(operator.send_request(get_settings(), "order.cancel_requested", args[1], reason,
                                                 operator_))
        console.print(f"sent order.cancel_requested for {body['channel']}:{body['external_id']} (id {body['id']})")
        return
    order(args[0])


@app.command("orders")
def list_orders(status: Annotated[str | None, typer.Option(help="only this status")] = None,
                limit: int = 50) -> None:
    """Orders, newest first, optionally of one status."""
    rows = asyncio.run(orders_read.in_status(get_settings(), status, limit))
    table = Table(order_column(), "channel", "external id", "status", "updated")
    for row in rows:
        table.add_row(row["order_id"], row["channel"], row["external_id"], row["status"], f"{row['updated_at']:%H:%M:%S}")
    console.print(table)


@app.command()
def stock(sku: str) -> None:
    """Stock of one SKU at every location."""
    levels = [Level(**row) for row in asyncio.run(inventory_read.stock(get_settings(), sku))]
    table = Table("location", "on hand", "reserved", "available", "inbound")
    for level in levels:
        table.add_row(level.location_id, str(level.on_hand), str(level.reserved), str(level.available),
                      str(level.inbound))
    console.print(table)


@app.command()
def availability(sku: str) -> None:
    """What each channel may sell of one SKU now (what `stock.availability_changed` last told it), from which
    locations, with its buffer."""
    network = load_network(get_settings().network_file)
    available = {level.location_id: level.available
                 for level in (Level(**row) for row in asyncio.run(inventory_read.stock(get_settings(), sku)))}
    if not available:
        console.print(styled((f"no stock of {sku} anywhere", "red")))
        raise typer.Exit(1)
    table = Table("channel", "may sell", "locations", "buffer")
    for channel in network.channels:
        rule = network.channel_stock(channel)
        table.add_row(channel, str(network.sellable(channel, sku, available)),
                      ", ".join(loc.id for loc in network.serving(channel)), str(rule.buffers.get(sku, rule.buffer)))
    console.print(table)


@app.command()
def transfer(sku: str, quantity: int, from_: Annotated[str, typer.Option("--from", help="the location sending")],
             to: Annotated[str, typer.Option("--to", help="the location receiving")],
             reason: Annotated[str | None, typer.Option()] = None,
             operator_: Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")] = None
             ) -> None:
    """Moves units between two locations: held back at the source at once, sent when it ships them (then inbound
    at the destination with their ETA), on hand there when it received them. Publishes stock.transfer_requested."""
    network = load_network(get_settings().network_file)
    if why := network.not_a_site(from_, to):
        raise typer.BadParameter(f"{why} (known: {', '.join(network.sites)})")
    if quantity < 1:
        raise typer.BadParameter("a transfer moves at least one unit")
    body = asyncio.run(operator.request_transfer(get_settings(), sku, quantity, from_, to, reason, operator_))
    console.print(f"sent stock.transfer_requested: {quantity} x {sku} from {from_} to {to} (id {body['id']}); "
                  "`oms transfers` follows it")


@app.command()
def transfers(all_: Annotated[bool, typer.Option("--all", help="also those received or refused")] = False) -> None:
    """Transfers between locations: open ones (requested, shipped), newest first."""
    table = Table("transfer", "sku", "qty", "from", "to", "status", "shipped", "received", "eta", "why / by")
    for row in asyncio.run(inventory_read.transfers(get_settings(), all_)):
        table.add_row(row["transfer_id"], row["sku"], str(row["quantity"]), row["from_location_id"],
                      row["to_location_id"], row["status"], "" if row["shipped"] is None else str(row["shipped"]),
                      "" if row["received"] is None else str(row["received"]),
                      row["eta"].strftime("%Y-%m-%d %H:%M") if row["eta"] else "",
                      " / ".join(x for x in (row["reason"], row["requested_by"]) if x))
    console.print(table)


dlq = typer.Typer(help="Dead-letter topics: what failed, why, and sending it again.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
hold = typer.Typer(help="Orders on hold.", no_args_is_help=True)
app.add_typer(hold, name="hold")


@dlq.command("list")
def dlq_list() -> None:
    """Every dead-letter topic with messages (how many, the last reason), and the parked messages of every service."""
    rows = asyncio.run(operator.dlq_summary(get_settings()))
    # the topic in full, always (an operator copies it into `oms dlq show`): the reasons give way
    table = Table(Column("topic", no_wrap=True, min_width=max((len(r["topic"]) for r in rows), default=5)),
                  "messages", "last reason", "last at")
    for row in rows:
        table.add_row(row["topic"], str(row["count"]), row["last_reason"][:90], row["last_at"][:19])
    console.print(table)
    parked = asyncio.run(parked_read.waiting(get_settings()))
    console.print(parked_table(parked) if parked else "no parked message")


def parked_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("service", "id", "origin", "topic@partition:offset", "bytes", "reason", "parked at",
                  title="parked (the broker or the database refused them; replay: oms dlq replay --parked)")
    table.columns[3].overflow = "fold"
    for row in rows:
        where = row["topic"] + (f"@{row['partition']}:{row['offset']}" if row["partition"] is not None else "")
        table.add_row(row["service"], str(row["id"]), row["origin"], where, str(row["size"]), row["reason"][:120],
                      f"{row['parked_at']:%Y-%m-%d %H:%M:%S}")
    return table


@dlq.command("show")
def dlq_show(topic: str, limit: int = 20) -> None:
    """The latest dead letters of one topic: where from, why, and the first bytes."""
    records = asyncio.run(operator.read_all(get_settings(), topic))[-limit:]
    table = Table("partition:offset", "key", "source", "attempts", "reason", "value")
    for record in records:
        h = operator.headers_of(record)
        table.add_row(f"{record.partition}:{record.offset}", (record.key or b"").decode(errors="replace")[:40],
                      f"{h.get('dlq_source_topic')}@{h.get('dlq_source_partition')}:{h.get('dlq_source_offset')}",
                      h.get("dlq_attempts", ""), h.get("dlq_reason", "")[:80],
                      (record.value or b"")[:60].decode(errors="replace"))
    console.print(table)


@dlq.command("replay")
def dlq_replay(topic: Annotated[str | None, typer.Argument(help="a dead-letter topic")] = None,
               offset: Annotated[list[int] | None, typer.Option(help="only these offsets")] = None,
               parked: Annotated[list[int] | None, typer.Option(help="these parked messages (ids), of --service")] = None,
               service: Annotated[str | None, typer.Option(help="the service that parked them")] = None,
               every: Annotated[bool, typer.Option("--all", help="every dead letter of the topic, unasked")] = False,
               operator_: Annotated[str | None, typer.Option("--operator", help="who replays (default: you)")] = None
               ) -> None:
    """Sends dead letters back to their DLQ's source topic, or parked messages on to their topic; idempotent (the
    consumers' inbox absorbs what was handled). Without `--offset` it asks first, or takes `--all`."""
    if parked:
        if service is None:
            raise typer.BadParameter("--parked needs --service (see oms dlq list)")
        sent = asyncio.run(operator.replay_parked(get_settings(), service, set(parked)))
        console.print(f"replayed {sent} parked message(s) of {service}")
        return
    if topic is None:
        raise typer.BadParameter("name a dead-letter topic, or --parked ids with --service")
    settings = get_settings()
    try:
        records = asyncio.run(operator.dead_letters(settings, topic, set(offset) if offset else None))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not offset and not every and not typer.confirm(f"replay all {len(records)} dead letters of {topic}?"):
        raise typer.Abort()
    who = operator.operator_name(operator_)
    sent, back = asyncio.run(operator.replay(settings, topic, records, who))
    console.print(f"replayed {sent} message(s) from {topic} to {topic.removesuffix('.dlq')} (by {who}); "
                  f"{back} came back to the dead-letter topic within 5 s")


@app.command()
def faults() -> None:
    """What the services do about each kind of failure (runtime/faults.py): retried until it passes, parked for an
    operator, or dead-lettered."""
    from runtime.faults import FAULTS, OTHER
    table = Table("failure", "errors", "then", "why", title="the fault table")
    for fault in (*FAULTS, OTHER):
        table.add_row(fault.name, ", ".join(e.__name__ for e in fault.errors), fault.action.value, fault.why)
    console.print(table)


@app.command()
def notifications(limit: int = 50) -> None:
    """Notifications that failed to send: dead ones (an operator must act), then those waiting to be tried again."""
    rows = asyncio.run(outgoing.failed_notifications(get_settings(), limit))
    table = Table("notification", order_column(), "kind", "attempts", "state", "last error")
    for row in rows:
        state = f"dead since {row['dead_at']:%H:%M:%S}" if row["dead_at"] else f"next at {row['next_attempt_at']:%H:%M:%S}"
        table.add_row(row["notification_id"][:13], row["order_id"], row["kind"], str(row["attempts"]), state,
                      (row["last_error"] or "")[:80])
    console.print(table if rows else "no failed notification")


webhooks_app = typer.Typer(help="Outgoing webhooks: failed deliveries, the subscribers' secrets, posting dead ones "
                                "again.", invoke_without_command=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.callback()
def webhooks(ctx: typer.Context, dead: Annotated[bool, typer.Option("--dead", help="only the dead ones")] = False,
             order_id: Annotated[str | None, typer.Option("--order", help="only this order's (its id)")] = None,
             limit: int = 50) -> None:
    """Deliveries that failed: dead ones (an operator must act: `oms webhooks retry`), then those waiting to be
    posted again."""
    if ctx.invoked_subcommand is not None:
        return
    rows = asyncio.run(outgoing.webhook_deliveries(get_settings(), dead, limit, order_id))
    table = Table("delivery", "subscriber", order_column(), "event", "attempts", "state", "last error")
    for row in rows:
        state = f"dead since {row['dead_at']:%H:%M:%S}" if row["dead_at"] else f"next at {row['next_attempt_at']:%H:%M:%S}"
        table.add_row(row["delivery_id"][:13], row["subscriber"], row["order_id"] or "", row["message_type"],
                      str(row["attempts"]), state, (row["last_error"] or "")[:80])
    console.print(table if rows else "no failed webhook")


@webhooks_app.command("secret")
def webhook_secret(subscriber: str) -> None:
    """The secret the OMS signs this subscriber's webhooks with (X-OMS-Signature): give it to the subscriber."""
    console.print(security.subscriber_secret(get_settings(), subscriber), soft_wrap=True)


@webhooks_app.command("retry")
def webhook_retry(subscriber: Annotated[str | None, typer.Option(help="only this subscriber's")] = None) -> None:
    """Posts the dead deliveries again (after the subscriber was mended), through the gateway."""
    settings = get_settings()
    answer = httpx.post(f"{settings.gateway_url.rstrip('/')}/v1/webhooks/retry", params={"subscriber": subscriber}
                        if subscriber else None, timeout=10,
                        headers={"Authorization": f"Bearer {security.operator_api_token(settings)}"})
    if answer.status_code != 200:
        console.print(f"the gateway answered {answer.status_code}: {answer.text}")
        raise typer.Exit(1)
    console.print(f"{answer.json()['retried']} dead deliveries will be posted again")


@app.command("returns")
def returns_command(all_: Annotated[bool, typer.Option("--all", help="also those received or expired")] = False,
                    limit: int = 200) -> None:
    """Returns on their way back (first to expire first), or every return with `--all`."""
    rows = asyncio.run(orders_read.returns(get_settings(), not all_, limit))
    table = Table("return", "order", "status", "location", "asked", "received", "expires")
    for row in rows:
        asked = ", ".join(f"{line.quantity} x {line.sku}" for line in row["lines"])
        came = ", ".join(f"{line.quantity} x {line.sku} {line.condition}" for line in row["received"])
        table.add_row(row["return_id"], f"{row['channel']}:{row['external_id']}", row["return_status"],
                      row["location_id"], asked, came,
                      f"{row['expires_at']:%Y-%m-%d %H:%M}" if row["expires_at"] else "")
    console.print(table if rows else "no open return" if not all_ else "no return")


@app.command("money")
def money_command(days: Annotated[int, typer.Option(help="how many days back")] = 7) -> None:
    """Per day and channel: what was captured (invoices) and refunded (credit notes), and the net; a day's net is
    what the payment events of that day add up to."""
    rows = asyncio.run(orders_read.daily_money(get_settings(), days))
    table = Table("day", "channel", "invoices", "captured", "credit notes", "refunded", "net", "not numbered yet")
    for row in rows:
        table.add_row(f"{row['day']:%Y-%m-%d}", row["channel"], str(row["invoices"]),
                      f"{row['captured']} {row['currency']}", str(row["credit_notes"]),
                      f"{row['refunded']} {row['currency']}", f"{row['captured'] - row['refunded']} {row['currency']}",
                      str(row["unnumbered"]))
    console.print(table if rows else "no invoice or credit note in that time")


@app.command("lag")
def lag_command(all_: Annotated[bool, typer.Option("--all", help="also partitions a group is not behind on")] = False,
                group: Annotated[list[str] | None, typer.Option(help="only this consumer group (repeatable)")] = None
                ) -> None:
    """How far each consumer group is behind, per topic and partition: the broker's end offset less the group's
    committed offset (the most behind first), and each group's total."""
    found = asyncio.run(consumer_lag(security.client_options(get_settings(), security.OPERATOR), group or None))
    table = Table("group", "topic", "partition", "committed", "end", "behind")
    for lag in sorted(found, key=lambda lag: (-lag.behind, lag.group, lag.topic, lag.partition)):
        if all_ or lag.behind:
            table.add_row(lag.group, lag.topic, str(lag.partition), str(lag.committed), str(lag.end), str(lag.behind))
    totals: dict[str, int] = {}
    for lag in found:
        totals[lag.group] = totals.get(lag.group, 0) + lag.behind
    console.print(table if table.row_count else "no group is behind")
    console.print(", ".join(f"{name} {n}" for name, n in sorted(totals.items())) or "no committed offsets")


@app.command("metrics")
def metrics_command() -> None:
    """A summary scraped from every running service's Prometheus endpoint (`make metrics`), then orders per
    status and the gateway's requests. Each endpoint's URL is listed: point Prometheus at them."""
    endpoints = metrics.endpoints(get_settings())
    if not endpoints:
        console.print("no service is running here (make up)")
        raise typer.Exit(1)
    scraped = metrics.scrape(endpoints)
    table = Table("process", "handled", "failed", "batch", "batch ms", "outbox", "oldest s", "relay ms", "lag",
                  "parked")
    for row in metrics.summary(scraped):
        table.add_row(*row)
    console.print(table)
    every = [(k, v) for samples in scraped.values() for k, v in samples.items()]
    statuses = {dict(labels)["status"]: v for (name, labels), v in every if name == "oms_orders"}
    console.print("orders: " + (", ".join(f"{s} {n:.0f}" for s, n in sorted(statuses.items())) or "none yet"))
    requests: dict[str, float] = {}
    for (name, labels), v in every:
        if name == "oms_http_requests_total":
            key = f"{dict(labels)['route']} {dict(labels)['status']}"
            requests[key] = requests.get(key, 0) + v
    if requests:
        console.print("gateway: " + ", ".join(f"{k}: {v:.0f}" for k, v in sorted(requests.items())))
    console.print("endpoints: " + ", ".join(url for _, url in endpoints))


@app.command("whatif")
def whatif_command(rules: Annotated[Path, typer.Option(help="a network file (its routing weights, carriers, lanes), "
                                                            "or one with only [routing] tables")],
                   since: Annotated[str, typer.Option(help="how far back: 30m, 6h, 2d")] = "1d") -> None:
    """The period's allocation decisions decided again under other rules, on the inputs they were made on, against
    what was decided live: cost per order, split rate, share on time, work per location. Changes nothing."""
    from oms_cli import whatif
    from rules.network import load_network
    settings = get_settings()
    result = whatif.run(settings, datetime.now(UTC) - parse_age(since),
                        whatif.rules_from(rules, load_network(settings.network_file)))
    if not result.live.orders:
        console.print("no allocation decision recorded in that period")
        return
    console.print(whatif.table(result, str(rules)))
    for example in result.examples:
        console.print(f"  {example}")


@app.command("pickups")
def pickups_command(days: Annotated[int, typer.Option(help="how many days back, today being 0")] = 0) -> None:
    """Today's carrier pickups (or since `--days` back): each one's manifest (shipments, parcels, weight) and whether
    the carrier confirmed or missed it; what a missed one had goes on the next."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    rows = asyncio.run(partners_read.pickups_since(get_settings(), since))
    table = Table("at", "location", "carrier", "status", "shipments", "parcels", "weight", "pickup")
    for row in rows:
        table.add_row(f"{row['at']:%Y-%m-%d %H:%M:%S}", row["location_id"], row["carrier_id"],
                      styled((row["status"], {"missed": "red", "confirmed": "green"}.get(row["status"], ""))),
                      str(len(row["shipment_ids"])),
                      str(row["parcels"]), f"{row['weight_grams'] / 1000:.1f} kg", row["pickup_id"])
    console.print(table if rows else "no pickup asked for in that time: the network file's `pickups` say when "
                                     "carriers collect, and each is asked for OMS_PICKUP_LEAD_S ahead")


@app.command("scorecards")
def scorecards_command() -> None:
    """Each partner's latest scorecard (its requests of the last window), as allocation and booking weigh it:
    failures, open requests, times and on-time shares."""
    rows = asyncio.run(inventory_read.scorecards(get_settings()))
    partner = whole("partner", max((len(r["partner_id"]) for r in rows), default=7))
    table = Table(partner, "kind", "requests", "failed", "rejected", "QC", "exceptions", "open", "to accept",
                  "accept to pack", "pick to pack", "packed on time", "delivered on time", "scored")

    def share(value: float | None) -> str:
        return "" if value is None else f"{value:.0%}"

    def seconds(value: float | None) -> str:
        return "" if value is None else f"{value:.1f} s"
    for row in rows:
        card = orjson.loads(row["card"] or "{}")
        table.add_row(row["partner_id"], row["kind"], str(card.get("requests", "")), share(card.get("failure_rate")),
                      str(card.get("rejected", "")), str(card.get("qc_failed", "")), str(card.get("exceptions", "")),
                      "" if card.get("open_requests") is None else str(card["open_requests"]),
                      seconds(card.get("accept_latency_s")), seconds(card.get("accept_to_pack_s")),
                      seconds(card.get("pick_to_pack_s")),
                      share(card.get("packed_on_time_rate")), share(card.get("delivered_on_time_rate")),
                      f"{row['scored_at']:%H:%M:%S}")
    console.print(table if rows else "no scorecard yet: partners are scored every OMS_SCORE_INTERVAL_S")


@app.command("report")
def report_command(since: Annotated[str, typer.Option(help="how far back: 30m, 6h, 2d")] = "1d",
                   out: Annotated[Path | None, typer.Option(help="where to write it")] = None) -> None:
    """One self-contained HTML report of the period (charts: orders per channel per hour, time to each stage, fill
    rate, split rate, shipping cost, on-time shares, partner scorecards, returns)."""
    from oms_cli import report
    settings = get_settings()
    path = out or settings.home / "reports" / f"report-{datetime.now(UTC):%Y%m%dT%H%M%S}.html"
    console.print(f"report written: {report.write(settings, datetime.now(UTC) - parse_age(since), path)}")


def parse_age(text: str) -> timedelta:
    """`30m`, `6h`, `2d` as a span of time."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise typer.BadParameter(f"{text!r}: a number and m, h or d (30m, 6h, 2d)")
    return timedelta(**{units[text[-1]]: float(text[:-1])})


@app.command("late")
def late_command(all_: Annotated[bool, typer.Option("--all", help="also orders that have ended")] = False,
                 limit: int = 200) -> None:
    """Shipments that broke a promise (left after their ship-by time, or arrive after their promise), of orders still
    open (or every one with `--all`), the longest late first."""
    rows = asyncio.run(orders_read.late(get_settings(), not all_, limit))
    table = Table(order_column(), "shipment", "location", "status", "late", "ship by", "promised by", "carrier expects")

    def when(at: datetime | None) -> str:
        return f"{at:%Y-%m-%d %H:%M}" if at else ""
    for row in rows:
        table.add_row(f"{row['channel']}:{row['external_id']}", row["shipment_id"], row["location_id"], row["status"],
                      ", ".join(row["late"]), when(row["ship_by"]), when(row["promised_by"]),
                      when(row["estimated_delivery"]))
    console.print(table if rows else "no late order" if not all_ else "no order was late")


location_app = typer.Typer(help="Locations: pause and resume new work.", no_args_is_help=True)
app.add_typer(location_app, name="location")


def _paused(location_id: str, paused: bool, reason: str | None, operator_: str | None) -> None:
    known = [loc.id for loc in load_network(get_settings().network_file).locations]
    if location_id not in known:
        raise typer.BadParameter(f"no location {location_id} (known: {', '.join(known)})")
    body = asyncio.run(operator.pause_location(get_settings(), location_id, paused, reason, operator_))
    console.print(f"sent {body['type']} for {location_id} (id {body['id']})")


Reason = Annotated[str | None, typer.Option()]
Operator = Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")]


@location_app.command("pause")
def location_pause(location_id: str, reason: Reason = None, operator_: Operator = None) -> None:
    """Sends a location no new work (what it has goes on) until it resumes: publishes location.paused for it."""
    _paused(location_id, True, reason, operator_)


@location_app.command("resume")
def location_resume(location_id: str, reason: Reason = None, operator_: Operator = None) -> None:
    """The location takes new work again (orders waiting for its stock are served): publishes location.resumed."""
    _paused(location_id, False, reason, operator_)


@hold.command("release")
def hold_release(ref: str, reason: Annotated[str | None, typer.Option()] = None,
                 operator_: Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")] = None
                 ) -> None:
    """Releases an order from hold: publishes order.hold_released, saying who asked."""
    body = asyncio.run(operator.send_request(get_settings(), "order.hold_released", ref, reason, operator_))
    console.print(f"sent order.hold_released for {body['channel']}:{body['external_id']} (id {body['id']})")


@hold.command("request")
def hold_request(ref: str, reason: Annotated[str, typer.Option(help="why, as the timeline will say")],
                 operator_: Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")] = None
                 ) -> None:
    """Holds an order where it is until an operator releases it: publishes order.hold_requested, saying who asked."""
    body = asyncio.run(operator.send_desk_request(get_settings(), "order.hold_requested", ref, {"reason": reason},
                                                  operator_))
    console.print(f"sent order.hold_requested for {body['order_id']} (id {body['id']})")


@app.command()
def note(ref: str, text: str,
         operator_: Annotated[str | None, typer.Option("--operator", help="who writes it (default: you)")] = None
         ) -> None:
    """A note in the order's timeline (an event with its status unchanged, reason `note`), naming who wrote it."""
    body = asyncio.run(operator.send_desk_request(get_settings(), "order.note_added", ref, {"text": text}, operator_))
    console.print(f"sent order.note_added for {body['order_id']} (id {body['id']})")


@app.command()
def move(ref: str, fulfillment: Annotated[str, typer.Argument(help="its fulfillment or shipment id (`oms order`)")],
         to: Annotated[str, typer.Option("--to", help="the location to move it to")],
         operator_: Annotated[str | None, typer.Option("--operator", help="who asks (default: you)")] = None
         ) -> None:
    """Moves a fulfillment its location has not started to another location (cancelled there, reserved there
    alone), or says why not in the order's timeline: publishes fulfillment.move_requested."""
    which = "shipment_id" if fulfillment.rsplit("-", 1)[-1].startswith("S") else "fulfillment_id"  # <order>-S1
    body = asyncio.run(operator.send_desk_request(get_settings(), "fulfillment.move_requested", ref,
                                                  {which: fulfillment, "to_location_id": to}, operator_))
    console.print(f"sent fulfillment.move_requested for {body['order_id']} (id {body['id']})")


@app.command()
def sagas(stuck: Annotated[bool, typer.Option("--stuck", help="only sagas past a deadline or idle")] = True,
          idle_minutes: float = 10) -> None:
    """Orders whose saga is past its deadline, or has not moved for a while, and why."""
    rows = asyncio.run(orders_read.stuck(get_settings(), idle_minutes))
    table = Table(order_column(), Column("channel:external id", overflow="fold"), "status", "saga", "why", "since")
    for row in rows:
        table.add_row(row["order_id"], f"{row['channel']}:{row['external_id']}", row["status"], row["saga_state"],
                      row["why"], f"{row['updated_at']:%Y-%m-%d %H:%M:%S}")
    console.print(table if rows else "no stuck saga")


agent_app = typer.Typer(help="The desk's agents and supervisors (they sign in at <gateway>/desk).",
                        no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("add")
def agent_add(name: str, role: Annotated[str, typer.Option(help="agent or supervisor")] = "agent",
              password: Annotated[bool, typer.Option("--password", help="also set a password (asked for, "
                                                                         "not echoed)")] = False) -> None:
    """Creates an agent (or gives one a new role) and prints a one-time login link, good for
    OMS_DESK_LINK_S (a day); with --password they may also sign in with their name and password."""
    if role not in ROLES:
        raise typer.BadParameter(f"no role {role!r}: one of {', '.join(ROLES)}")
    secret = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    settings = get_settings()
    try:
        link = asyncio.run(with_agents(settings, lambda agents: agents.add(name, role, secret)))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"{name} ({role}) may sign in once with:")
    print(login_link(settings, link))


@agent_app.command("remove")
def agent_remove(name: str) -> None:
    """Removes an agent: their sessions end at once (their past actions keep their name)."""
    if not asyncio.run(with_agents(get_settings(), lambda agents: agents.remove(name))):
        console.print(styled((f"no agent {name}", "red")))
        raise typer.Exit(1)
    console.print(f"removed {name}")


@agent_app.command("list")
def agent_list() -> None:
    """The agents, their roles, whether they have a password, and their open sessions."""
    table = Table("agent", "role", "password", "sessions", "since")
    for row in asyncio.run(with_agents(get_settings(), lambda agents: agents.listed())):
        table.add_row(row["name"], row["role"], "yes" if row["has_password"] else "no", str(row["sessions"]),
                      row["created_at"].strftime("%Y-%m-%d"))
    console.print(table)


customer_app = typer.Typer(help="A customer's personal data.", no_args_is_help=True)
app.add_typer(customer_app, name="customer")


@customer_app.command("erase")
def customer_erase(email: Annotated[str | None, typer.Argument(help="the customer's e-mail address")] = None,
                   channel: Annotated[str | None, typer.Option(help="the channel whose customer id is given")] = None,
                   customer_id: Annotated[str | None, typer.Option("--customer-id", help="that channel's id of the "
                                                                                        "customer")] = None) -> None:
    """Removes or masks the customer's personal data wherever the OMS keeps it (every service's tables and parked
    messages, webhook payloads, the file sender's log; orders keep their ids, lines, prices and statuses): by e-mail
    address, or by a channel's customer id (`--channel web --customer-id C-1`). Refused while any of their orders is
    still on its way. Running it again changes nothing. Says what it touched."""
    if not email and not (channel and customer_id):
        raise typer.BadParameter("give the e-mail address, or --channel and --customer-id")
    try:
        touched = asyncio.run(erase.erase_customer(get_settings(), email=email, channel=channel,
                                                   customer_id=customer_id))
    except erase.StillInFlight as exc:
        console.print(styled((str(exc), "red")))
        raise typer.Exit(1) from exc
    table = Table("service.table", "rows masked")
    for name, count in touched.items():
        table.add_row(name, str(count))
    console.print(table)


@app.command()
def credentials(kind: Annotated[str, typer.Argument(help="channel, warehouse, carrier, supplier, feed, service, "
                                                        "operator or payments")],
                ident: Annotated[str, typer.Argument(help="the channel, location, carrier or service id; for an "
                                                          "operator: reader (default), actor or replayer")] = "",
                properties: Annotated[Path | None, typer.Option(help="also write the same login as a Java client's "
                                                                     "properties file (readable by you only), for "
                                                                     "kafka-console-consumer, kafka-topics, a Kafka UI")]
                = None) -> None:
    """The client settings of one principal on the broker (aiokafka's keyword names) and the topics it uses, as
    JSON: what a partner, a channel or a tool needs to connect."""
    settings = get_settings()
    network = load_network(settings.network_file)
    known = {"channel": network.channels, "warehouse": network.sites, "supplier": network.suppliers,
             "carrier": [c.id for c in network.carriers], "service": list(security.SERVICES),
             "feed": [f.id for f in network.feeds], "operator": ["", *security.OPERATORS],
             security.PAYMENTS: [""]}
    if kind not in known or ident not in known[kind]:
        choices = ", ".join(known.get(kind, known))
        raise typer.BadParameter(f"{kind} {ident}: not in the network file (one of: {choices})")
    described = security.described(settings, network, kind, ident)
    if properties is not None:
        write_private(properties, security.client_properties(described))
    print(orjson.dumps(described, option=orjson.OPT_INDENT_2).decode())


@app.command()
def up() -> None:
    """Kafka, PostgreSQL, every service and the partner simulators, in the background."""
    settings = get_settings()
    stack = Stack(settings)
    stack.up()
    started = processes.start_all(settings)
    processes.wait_started(settings, started)
    console.print(stack.describe())
    console.print(f"services running; logs in {processes.log_dir(settings)} (oms logs)")


@app.command()
def down() -> None:
    """Stops the services, the simulators and the stack."""
    settings = get_settings()
    stopped = processes.stop_all(settings)
    Stack(settings).down()
    console.print(f"stopped {', '.join(stopped) or 'no service'} and the stack")


@app.command()
def logs(service: Annotated[str, typer.Argument(help="e.g. order_service; all when omitted")] = "",
         follow: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
    """The services' logs (JSON lines)."""
    folder = processes.log_dir(get_settings())
    files = [folder / f"{service}.log"] if service else sorted(folder.glob("*.log"))
    subprocess.run(["tail", "-n", "40", *(["-F"] if follow else []), *map(str, files)], check=False)


@app.command("run-all")
def run_all() -> None:
    """Every service and the simulators in the foreground (for a container); Ctrl-C stops them."""
    settings = get_settings()
    if security.credentials_file(settings).exists():  # the local stack's: its setup migrates, not the services
        asyncio.run(migrate_databases(settings))
    started = processes.start_all(settings)
    try:
        processes.wait_started(settings, started)
        console.print("all services running; Ctrl-C stops them")
        subprocess.run(["tail", "-F", *map(str, processes.log_dir(settings).glob("*.log"))], check=False)
    finally:
        processes.stop_all(settings)


@app.command()
def demo(orders: int = 400, delay_ms: int = 150) -> None:
    """Seeds stock, runs a realistic mix of orders through every channel, shows progress and a summary."""
    from oms_cli.demo import run_demo

    run_demo(orders, delay_ms)


if __name__ == "__main__":
    app()
