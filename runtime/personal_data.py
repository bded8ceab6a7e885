"""Personal data kept small: what each service masks of a customer, on request (`oms customer erase`) or once an
order is over for `OMS_PERSONAL_DATA_RETENTION_DAYS` (each service's own background job). A masked address keeps
its country, which holds no one; orders keep their ids, lines, prices and statuses."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import asyncpg

from contracts.order import ENDED
from runtime import pollers
from runtime.deps import Deps
from runtime.logging import log
from runtime.maintenance import Maintenance, maintenance


def masked_address(column: str) -> str:
    return (f"jsonb_build_object('name', 'erased', 'line1', 'erased', 'line2', NULL, 'city', 'erased', "
            f"'postal_code', 'erased', 'country', {column}->>'country')")


def _in_saga(path: str, column: str) -> str:
    """The order service keeps its saga as text (JSON it wrote): masked as a document, stored back as text."""
    doc = "saga::jsonb"
    return (f"CASE WHEN {doc} #> '{{{path}}}' IS NOT NULL AND jsonb_typeof({doc} #> '{{{path}}}') = 'object' "
            f"THEN jsonb_set({doc}, '{{{path}}}', {masked_address(column)})::text ELSE saga END")


# What each service keeps of a customer, masked: `{where}` picks the rows (parameters from $1).
MASKS: dict[str, list[tuple[str, str]]] = {
    "order": [("orders", f"""UPDATE orders SET customer = jsonb_build_object(
                                 'id', customer->>'id', 'email', 'erased', 'name', 'erased', 'phone', NULL),
                             shipping_address = {masked_address('shipping_address')},
                             saga = {_in_saga('ship_to', "saga::jsonb->'ship_to'")}
                         WHERE {{where}} AND customer IS NOT NULL AND customer->>'email' <> 'erased'""")],
    "notification": [
        ("contacts", "UPDATE contacts SET email = 'erased', phone = NULL, name = 'erased' "
                     "WHERE {where} AND email <> 'erased'"),
        ("notifications", "UPDATE notifications SET recipient = 'erased' "
                          "WHERE {where} AND recipient <> 'erased' AND kind NOT LIKE 'operator_%'")],
    "shipping": [("shipments", f"UPDATE shipments SET ship_to = {masked_address('ship_to')} "
                               "WHERE {where} AND ship_to->>'name' <> 'erased'")],
    "gateway": [("contact_hashes", "DELETE FROM contact_hashes WHERE {where}"),  # keyed hashes, still the person's
                ("webhook_deliveries", "UPDATE webhook_deliveries SET payload = payload || jsonb_build_object("
                                       "'recipient', 'erased', 'body', 'erased') WHERE {where} "
                                       "AND message_type = 'notification.requested' AND payload->>'body' <> 'erased'")],
}
# Every service's parked messages (what no retry could help, kept for operators) hold the raw message: an erased
# customer's are blanked, keys and reasons kept.
PARKED = ("parked_messages", "UPDATE parked_messages SET value = convert_to('{\"erased\": true}', 'UTF8') "
                             "WHERE convert_from(key, 'UTF8') = ANY($1::text[] || $2::text[]) "
                             "AND value <> convert_to('{\"erased\": true}', 'UTF8')")
# The rows of a customer's orders (erase: $1 their order ids, $2 their channel:external_id keys)
OF_ORDERS = {"orders": "order_id = ANY($1::text[])", "contacts": "$1::text[] IS NOT NULL AND order_key = ANY($2::text[])",
             "notifications": "order_id = ANY($1::text[])", "shipments": "order_id = ANY($1::text[])",
             "contact_hashes": "order_id = ANY($1::text[])", "webhook_deliveries": "order_id = ANY($1::text[])"}
TERMINAL = f"({', '.join(repr(s) for s in sorted(ENDED))})"  # an order that is over
# The rows past retention ($1 how long ago, $2 at most how many a round)
PAST_RETENTION = {
    "orders": f"ctid = ANY(ARRAY(SELECT ctid FROM orders WHERE status IN {TERMINAL} "
              "AND updated_at < now() - $1::interval AND customer->>'email' <> 'erased' LIMIT $2 "
              "FOR UPDATE SKIP LOCKED))",
    "contacts": "ctid = ANY(ARRAY(SELECT ctid FROM contacts WHERE created_at < now() - $1::interval "
                "AND email <> 'erased' LIMIT $2 FOR UPDATE SKIP LOCKED))",
    "notifications": "ctid = ANY(ARRAY(SELECT ctid FROM notifications WHERE created_at < now() - $1::interval "
                     "AND (sent_at IS NOT NULL OR dead_at IS NOT NULL) AND recipient <> 'erased' LIMIT $2 "
                     "FOR UPDATE SKIP LOCKED))",
    "shipments": "ctid = ANY(ARRAY(SELECT ctid FROM shipments WHERE status = 'delivered' "
                 "AND updated_at < now() - $1::interval AND ship_to->>'name' <> 'erased' LIMIT $2 "
                 "FOR UPDATE SKIP LOCKED))",
    "contact_hashes": "ctid = ANY(ARRAY(SELECT ctid FROM contact_hashes WHERE created_at < now() - $1::interval "
                      "LIMIT $2 FOR UPDATE SKIP LOCKED))",
    "webhook_deliveries": "ctid = ANY(ARRAY(SELECT ctid FROM webhook_deliveries WHERE created_at < now() - "
                          "$1::interval AND (sent_at IS NOT NULL OR dead_at IS NOT NULL) LIMIT $2 "
                          "FOR UPDATE SKIP LOCKED))",
}


def masks(service: str, rows: dict[str, str], why: str) -> dict[str, Maintenance]:
    """The maintenance operations that mask the rows `rows` picks in each table this service keeps personal data in,
    by table."""
    return {table: maintenance(f"{table}.mask_{why}", statement.replace("{where}", rows[table]))
            for table, statement in MASKS.get(service, [])}


async def mask(conn: asyncpg.Connection, operations: dict[str, Maintenance], *args: Any) -> dict[str, int]:
    """Runs them; how many rows each masked, per table."""
    return {table: await operation.run(conn, *args[:max(int(n) for n in re.findall(r"\$(\d+)", operation.sql))])
            for table, operation in operations.items()}


ERASED = {service: masks(service, OF_ORDERS, "erased") for service in MASKS}  # a customer's orders, on request
PAST = {service: masks(service, PAST_RETENTION, "past_retention") for service in MASKS}
PARKED_ERASED = maintenance("parked_messages.mask_erased", PARKED[1])


def retention(rows_a_round: int = 1000) -> Callable[[Deps], Coroutine[Any, Any, None]]:
    """A service's background job: every `personal_data_check_interval_s`, masks what it keeps of customers whose
    order has been over for longer than `personal_data_retention_days`."""
    async def run(deps: Deps) -> None:
        older = timedelta(days=deps.settings.personal_data_retention_days)

        async def round_(conn: asyncpg.Connection) -> int:
            touched = await mask(conn, PAST.get(deps.service, {}), older, rows_a_round)
            if any(touched.values()):
                log.info("personal_data.masked", **touched, retention_days=deps.settings.personal_data_retention_days)
            return max(touched.values(), default=0)
        await pollers.every(deps.pool, deps.settings.personal_data_check_interval_s, round_, "personal_data",
                            busy=rows_a_round)
    run.__name__ = "personal_data.retention"
    return run
