"""The unit of work's flush as SQL: every repository's changes and the outbox in one statement of data-modifying
CTEs (run by `runtime.postgres`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from runtime.outbox import channel, outbox_row, replaces
from runtime.tables import Changes, Outgoing


class Statement:
    """One SQL statement of CTEs, with parameters named by the code that adds them (`param`), never counted by
    hand; `checks` are counts the statement must return, or the unit of work fails."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.ctes: list[str] = []
        self.checks: list[tuple[str, int, str]] = []

    def param(self, value: Any, sql_type: str) -> str:
        self.args.append(value)
        return f"${len(self.args)}::{sql_type}"

    def unnest(self, types: Mapping[str, str], rows: Sequence[Mapping[str, Any]], alias: str = "v",
               prefix: str = "") -> str:
        """`unnest(...) AS alias(columns)` of these rows' columns (a text[] travels as JSON: unnest flattens arrays)."""
        arrays = [self.param([orjson.dumps(row[c]).decode() for row in rows] if t == "text[]" else
                             [row[c] for row in rows], "jsonb[]" if t == "text[]" else f"{t}[]")
                  for c, t in types.items()]
        return f"unnest({', '.join(arrays)}) AS {alias}({', '.join(prefix + c for c in types)})"

    def cte(self, sql: str, check: tuple[int, str] | None = None, returning: bool = True) -> None:
        """A CTE; with `check`, the count of its rows (RETURNING 1, when `returning`) must be `check[0]`."""
        name = f"w{len(self.ctes)}"
        self.ctes.append(f"{name} AS ({sql}{' RETURNING 1' if check and returning else ''})")
        if check:
            self.checks.append((f"(SELECT count(*) FROM {name})", *check))

    async def run(self, conn: asyncpg.Connection) -> None:
        if not self.ctes:
            return
        found = await conn.fetchrow(f"WITH {', '.join(self.ctes)} SELECT {', '.join(c for c, _, _ in self.checks) or 0}",
                                    *self.args)
        assert found is not None
        for n, (_, expected, problem) in enumerate(self.checks):
            if found[n] != expected:
                raise RuntimeError(f"{problem}: {found[n]} of {expected}")


def _value(column: str, sql_type: str) -> str:
    return f"ARRAY(SELECT jsonb_array_elements_text(v.{column}))" if sql_type == "text[]" else f"v.{column}"


def write_changes(statement: Statement, changes: Changes) -> None:
    t = changes.table
    if changes.inserted or changes.appended:
        for rows, checked in ((changes.inserted, t.insert_checked), (changes.appended, False)):
            if not rows:
                continue
            types = {c: t.columns[c] for c in rows[0]}
            statement.cte(f"INSERT INTO {t.name} ({', '.join(types)}) SELECT "
                          f"{', '.join(_value(c, s) for c, s in types.items())} FROM {statement.unnest(types, rows)}"
                          + (" ON CONFLICT DO NOTHING" if rows is changes.inserted else ""),
                          (len(rows), f"{t.name}: rows the unit of work added exist already") if checked else None)
    if changes.updated:
        types = {**{c: t.columns[c] for c in t.key}, **{c: t.columns[c] for c in t.updates}}
        rows = [now for now, _ in changes.updated]
        was = {f"was_{c}": t.columns[c] for c in t.checked}
        both = [{**now, **{f"was_{c}": before[c] for c in t.checked}} for now, before in changes.updated]
        sets = [f"{c} = {_value(c, t.columns[c])}" for c in t.updates] + (["updated_at = now()"] if t.touch else [])
        # a checked column may be null: null read, null still (as the in-memory database compares)
        where = [f"t.{c} = v.{c}" for c in t.key] + [f"t.{c} IS NOT DISTINCT FROM v.was_{c}" for c in t.checked]
        statement.cte(f"UPDATE {t.name} t SET {', '.join(sets)} FROM {statement.unnest({**types, **was}, both)} "
                      f"WHERE {' AND '.join(where)}",
                      (len(rows), f"{t.name}: rows changed under the unit of work"))
    if changes.deleted:
        keys = [dict(zip(t.key, k, strict=True)) for k in changes.deleted]
        types = {c: t.columns[c] for c in t.key}
        statement.cte(f"DELETE FROM {t.name} t USING {statement.unnest(types, keys)} "
                      f"WHERE {' AND '.join(f't.{c} = v.{c}' for c in t.key)}")


def write_outbox(statement: Statement, items: Sequence[tuple[str, Outgoing]],
                 traces: Mapping[str, str] | None = None) -> None:
    """The rows, and a wake-up for each service's relay (delivered when the transaction commits)."""
    traces = traces or {}
    rows = [outbox_row(service, *item, trace=traces.get(item[2].id)) for service, item in items]
    columns = {"topic": "text", "key": "text", "message_id": "text", "message_type": "text", "payload": "bytea",
               "headers": "jsonb"}
    statement.cte(f"INSERT INTO outbox ({', '.join(columns)}) SELECT * FROM "
                  f"{statement.unnest(columns, [dict(zip(columns, row, strict=True)) for row in rows])}")
    for service in dict.fromkeys(service for service, _ in items):
        statement.cte(f"SELECT pg_notify({statement.param(channel(service), 'text')}, '')",
                      (1, "the relay was not woken"), returning=False)


def write_held(statement: Statement, items: Sequence[tuple[str, Outgoing]],
               traces: Mapping[str, str] | None = None) -> None:
    """State messages held back (`outbox_held`): the relay sends the latest of each within `OMS_HOLD_STATE_MS`, so no
    wake-up now."""
    traces = traces or {}
    columns = {"topic": "text", "key": "text", "replaces": "text", "message_id": "text", "message_type": "text",
               "payload": "bytea", "headers": "jsonb"}
    rows = []
    for service, (topic, to, message) in items:
        topic, to, message_id, message_type, payload, headers = outbox_row(service, topic, to, message,
                                                                          trace=traces.get(message.id))
        rows.append({"topic": topic, "key": to, "replaces": replaces(message), "message_id": message_id,
                     "message_type": message_type, "payload": payload, "headers": headers})
    statement.cte(f"INSERT INTO outbox_held ({', '.join(columns)}) SELECT * FROM {statement.unnest(columns, rows)}")
