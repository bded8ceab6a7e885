"""The order service's read model: orders, their lines and timeline, what waits or is late, and returns. What the
saga knows is read through the order service's own views (`order_service.views`), never from its JSON."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from contracts.base import SkuQuantity
from oms_cli.queries import read
from order_service import views
from runtime.settings import Settings


def ref_splits(ref: str) -> list[tuple[str, str]]:
    """Every way `ref` reads as `channel:external_id` (a channel such as `store:store-munich` holds a colon, and an
    external id may hold more)."""
    return [(ref[:i], ref[i + 1:]) for i, c in enumerate(ref) if c == ":" and 0 < i < len(ref) - 1]


ORDER_BY_REF = ("(o.order_id = $1 OR (o.channel, o.external_id) IN "
                "(SELECT * FROM unnest($2::text[], $3::text[])))")


def order_ref_args(ref: str) -> list[Any]:
    """The arguments of `ORDER_BY_REF`: an order given by its id or as `channel:external_id`."""
    splits = ref_splits(ref)
    return [ref, [c for c, _ in splits], [e for _, e in splits]]


_ORDER = ("SELECT o.order_id, o.channel, o.external_id, o.status, o.saga_state, o.currency, o.saga, "
          "(SELECT json_agg(l ORDER BY line_no) FROM order_lines l WHERE l.order_id = o.order_id) AS lines "
          "FROM orders o WHERE ")


async def order(settings: Settings, ref: str) -> dict[str, Any] | None:
    """One order (by id or `channel:external_id`) with its lines as ordered, each with what was cancelled of it."""
    rows = await read(settings, "order", _ORDER + ORDER_BY_REF, *order_ref_args(ref))
    if not rows:
        return None
    row = rows[0]
    saga = views.saga_of(row["saga"])
    ordered = orjson.loads(row["lines"] or "[]")
    lines = views.ordered_lines(saga, [SkuQuantity(sku=line["sku"], quantity=line["quantity"]) for line in ordered],
                                [str(Decimal(str(line["unit_price"]))) for line in ordered])
    return {"order_id": row["order_id"], "channel": row["channel"], "external_id": row["external_id"],
            "status": row["status"], "saga_state": row["saga_state"], "currency": row["currency"],
            "lines": lines, "returns": views.returns(saga), "money": views.money(saga)}


async def documents(settings: Settings, order_id: str) -> list[asyncpg.Record]:
    """An order's invoices (a capture each) and credit notes (a refund each), as issued."""
    return await read(settings, "order", "SELECT kind, number, channel, shipment_id, return_id, amount, currency, "
                      "issued_at FROM documents WHERE order_id = $1 ORDER BY issued_at, document_id", order_id)


# what a group of documents captured (invoices) and refunded (credit notes)
_MONEY = ("coalesce(sum(amount) FILTER (WHERE kind = 'invoice'), 0) AS captured, "
          "coalesce(sum(amount) FILTER (WHERE kind = 'credit_note'), 0) AS refunded")


async def money_by_channel(settings: Settings, order_ids: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """These orders' invoices and credit notes per channel: captured, refunded."""
    rows = await read(settings, "order", f"SELECT channel, {_MONEY} FROM documents WHERE order_id = ANY($1::text[]) "
                      "GROUP BY channel", order_ids)
    return {row["channel"]: (row["captured"], row["refunded"]) for row in rows}


async def money_since(settings: Settings, since: datetime) -> list[asyncpg.Record]:
    """Per channel and currency since then: captured (invoices) and refunded (credit notes)."""
    return await read(settings, "order", f"SELECT channel, currency, {_MONEY} FROM documents WHERE issued_at >= $1 "
                      "GROUP BY 1, 2 ORDER BY 1, 2", since)


async def daily_money(settings: Settings, days: int) -> list[asyncpg.Record]:
    """Per day and channel: captured (invoices) and refunded (credit notes), and each series' numbers so far."""
    return await read(
        settings, "order",
        f"SELECT date_trunc('day', issued_at) AS day, channel, currency, {_MONEY}, "
        "count(*) FILTER (WHERE kind = 'invoice') AS invoices, "
        "count(*) FILTER (WHERE kind = 'credit_note') AS credit_notes, "
        "count(*) FILTER (WHERE number IS NULL) AS unnumbered "
        "FROM documents WHERE issued_at > now() - make_interval(days => $1) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", days)


async def timeline(settings: Settings, order_id: str) -> list[asyncpg.Record]:
    return await read(settings, "order", "SELECT * FROM order_timeline WHERE order_id = $1 ORDER BY sequence", order_id)


async def in_status(settings: Settings, status: str | None, limit: int) -> list[asyncpg.Record]:
    return await read(settings, "order", "SELECT order_id, channel, external_id, status, updated_at FROM orders "
                      "WHERE $1::text IS NULL OR status = $1 ORDER BY created_at DESC LIMIT $2", status, limit)


async def stuck(settings: Settings, idle_minutes: float) -> list[asyncpg.Record]:
    """Orders whose saga is past its deadline, or has not moved for a while (where it is not waiting on purpose)."""
    return await read(
        settings, "order",
        "SELECT order_id, channel, external_id, status, saga_state, deadline_at, updated_at, "
        "CASE WHEN deadline_at < now() THEN 'past its deadline in ' || saga_state "
        "ELSE 'no progress for ' || round(extract(epoch FROM now() - updated_at) / 60) || ' min in ' || saga_state "
        "END AS why FROM orders WHERE saga_state = ANY($2::text[]) AND "
        "(deadline_at < now() OR (updated_at < now() - make_interval(mins => $1) "
        "AND saga_state NOT IN ('on_hold', 'backordered', 'returning'))) ORDER BY updated_at LIMIT 200",
        int(idle_minutes), list(views.OPEN_STATES))


async def _with_saga(settings: Settings, where: str, *args: object) -> list[asyncpg.Record]:
    return await read(settings, "order", "SELECT order_id, channel, external_id, status, saga_state, saga "
                      f"FROM orders o WHERE {where}", *args)


async def returns(settings: Settings, open_only: bool, limit: int = 200) -> list[dict[str, Any]]:
    """Returns on their way back, first to expire first (`open_only`), or every return, newest first."""
    rows = await _with_saga(settings, "saga_state = 'returning'" if open_only else
                            "order_id IN (SELECT order_id FROM order_timeline WHERE status = 'return_requested')")
    found = [{"order_id": row["order_id"], "channel": row["channel"], "external_id": row["external_id"],
              "status": row["status"], "return_status": seen.status, **vars_of(seen)}
             for row in rows for seen in views.returns(views.saga_of(row["saga"]))
             if not open_only or seen.status == "requested"]
    never = datetime.max.replace(tzinfo=None)
    found.sort(key=lambda r: (r["expires_at"] or never).replace(tzinfo=None), reverse=not open_only)
    return found[:limit]


async def late(settings: Settings, open_only: bool, limit: int = 200) -> list[dict[str, Any]]:
    """Shipments that broke a promise (of orders still open, with `open_only`), the longest late first."""
    rows = await _with_saga(settings, "order_id IN (SELECT order_id FROM order_timeline "
                            "WHERE reason->>'code' IN ('late_to_ship', 'late_delivery')) "
                            "AND (NOT $1 OR saga_state <> ALL($2::text[]))", open_only, list(views.ENDED_STATES))
    found = [{"order_id": row["order_id"], "channel": row["channel"], "external_id": row["external_id"],
              "status": row["status"], **vars_of(shipment)}
             for row in rows for shipment in views.late_shipments(views.saga_of(row["saga"]))]
    never = datetime.max.replace(tzinfo=None)
    found.sort(key=lambda r: (r["ship_by"] or never).replace(tzinfo=None))
    return found[:limit]


async def ref(settings: Settings, given: str) -> tuple[str, str]:
    """(channel, external_id) of an order given by id or as channel:external_id (either may hold colons)."""
    rows = await read(settings, "order", f"SELECT channel, external_id FROM orders o WHERE {ORDER_BY_REF}",
                      *order_ref_args(given))
    if not rows:
        raise LookupError(f"no order {given}")
    return rows[0]["channel"], rows[0]["external_id"]


async def of_customer(conn: asyncpg.Connection, email: str | None, channel: str | None,
                      customer_id: str | None) -> list[asyncpg.Record]:
    """A customer's orders, by e-mail (any channel) or by one channel's customer id."""
    return await conn.fetch(
        "SELECT order_id, channel, external_id, status FROM orders WHERE (lower(customer->>'email') = lower($1)) "
        "OR (channel = $2 AND customer->>'id' = $3)", email, channel, customer_id)


async def since(settings: Settings, at: datetime) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[str]]:
    """The report's: orders placed since `at`, every step of theirs, and each return's reason as the customer gave
    it."""
    orders = await read(settings, "order", "SELECT order_id, channel, status, created_at, saga FROM orders "
                        "WHERE created_at >= $1", at)
    steps = await read(settings, "order", "SELECT t.order_id, t.status, t.reason->>'code' AS code, t.occurred_at "
                       "FROM order_timeline t JOIN orders o USING (order_id) WHERE o.created_at >= $1 "
                       "ORDER BY t.order_id, t.sequence", at)
    reasons = [(seen.reason or "").strip().lower() for row in orders for seen in views.returns(views.saga_of(row["saga"]))]
    return orders, steps, reasons


def vars_of(view: Any) -> dict[str, Any]:
    """A view's fields as they are (its lines stay models, as `asdict` would not leave them)."""
    return {field.name: getattr(view, field.name) for field in fields(view)}
