"""`oms customer erase`: a customer's personal data masked wherever the OMS keeps a copy (every service's tables
and parked messages, the gateway's webhook payloads, the file sender's log), idempotently; orders keep their ids,
lines, prices and statuses. Scoped: a customer id is one channel's, so it is given with its channel."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import asyncpg
import orjson

from contracts.order import ENDED
from oms_cli.queries import orders as orders_read
from runtime.personal_data import ERASED, PARKED, PARKED_ERASED, mask
from runtime.settings import SERVICES, Settings


class StillInFlight(Exception):
    """The customer has orders that are not over: erasing now would ship them to "erased"."""

    def __init__(self, order_ids: list[str]) -> None:
        super().__init__(f"{len(order_ids)} of the customer's orders are not over yet ({', '.join(order_ids[:5])}): "
                         "erase once they are delivered, collected, returned or cancelled")
        self.order_ids = order_ids


async def erase_customer(settings: Settings, *, email: str | None = None, channel: str | None = None,
                         customer_id: str | None = None, sent_log: Path | None = None) -> dict[str, int]:
    """Masks the personal data of the customer with this e-mail address (any case, every channel) or this channel's
    customer id. Refuses (`StillInFlight`) while any of their orders is not over. Returns how many rows were masked,
    per service and table (0 everywhere the second time)."""
    if not email and not (channel and customer_id):
        raise ValueError("give an e-mail address, or a channel and that channel's customer id")
    conn = await asyncpg.connect(settings.database_for("order"))
    try:
        rows = await orders_read.of_customer(conn, email, channel, customer_id)
    finally:
        await conn.close()
    open_ = [r["order_id"] for r in rows if r["status"] not in ENDED]
    if open_:
        raise StillInFlight(open_)
    ids, keys = [r["order_id"] for r in rows], [f"{r['channel']}:{r['external_id']}" for r in rows]
    touched: dict[str, int] = {}
    for service in SERVICES:
        conn = await asyncpg.connect(settings.database_for(service))
        try:
            async with conn.transaction():
                for table, count in (await _mask(conn, service, ids, keys)).items():
                    touched[f"{service}.{table}"] = count
        finally:
            await conn.close()
    touched["notification.sent_log"] = erase_sent_log(sent_log or settings.home / "notifications" / "sent.jsonl", ids)
    return touched


async def _mask(conn: asyncpg.Connection, service: str, ids: list[str], keys: list[str]) -> dict[str, int]:
    touched = {table: 0 for table in ERASED.get(service, {})}
    with contextlib.suppress(asyncpg.UndefinedTableError):  # a service that has never run keeps nothing
        async with conn.transaction():
            touched = await mask(conn, ERASED.get(service, {}), ids, keys)
    with contextlib.suppress(asyncpg.UndefinedTableError):
        async with conn.transaction():
            touched[PARKED[0]] = await PARKED_ERASED.run(conn, ids, keys)
    return touched


def erase_sent_log(path: Path, order_ids: list[str]) -> int:
    """The local file sender's log, rewritten with these orders' notifications masked (kept 0600)."""
    if not path.exists() or not order_ids:
        return 0
    wanted, masked, lines = set(order_ids), 0, []
    for line in path.read_bytes().splitlines():
        sent = orjson.loads(line) if line else None
        if sent and sent.get("order_id") in wanted and sent.get("recipient") != "erased":
            sent |= {"recipient": "erased", "body": "erased"}
            masked += 1
        lines.append(orjson.dumps(sent) if sent else line)
    if masked:
        fresh = path.with_suffix(".erasing")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(b"\n".join(lines) + b"\n")
        fresh.replace(path)
    return masked
