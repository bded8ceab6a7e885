"""What a service sends out of its database after the transaction that recorded it (customer notifications, webhook
deliveries), each item on its own: a failed one waits twice as long as before it is tried again (an hour at most),
and one refused for good or failed `max_attempts` times is dead, for an operator to see and send again."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Outgoing:
    """A table of items to send: its key, and the columns a failed item's row gives back (for the log). The table
    has `attempts`, `last_error`, `next_attempt_at`, `sent_at` and `dead_at`."""

    table: str
    key: str
    returning: tuple[str, ...] = ()
    count_success: bool = False  # `attempts` counts the successful try too (else only failures)

    async def mark_sent(self, conn: asyncpg.Connection, ids: list[str]) -> None:
        if ids:
            counted = ", attempts = attempts + 1" if self.count_success else ""
            await conn.execute(f"UPDATE {self.table} SET sent_at = now(), last_error = NULL{counted} "
                               f"WHERE {self.key} = ANY($1::text[])", ids)

    async def mark_failed(self, conn: asyncpg.Connection, failures: list[tuple[str, str, bool]], max_attempts: int,
                          backoff_s: float) -> list[asyncpg.Record]:
        """Failed items `(id, error, permanent)`: due again after a wait that doubles, or dead when the failure is
        permanent or the attempts are used up. Returns their rows, with `attempts` and `dead`."""
        if not failures:
            return []
        ids, errors, permanent = (list(column) for column in zip(*failures, strict=True))
        extra = "".join(f", t.{column}" for column in self.returning)
        return await conn.fetch(
            f"""UPDATE {self.table} t SET attempts = t.attempts + 1, last_error = f.error,
                    next_attempt_at = now() + make_interval(secs => least($4 * 2 ^ t.attempts, 3600)),
                    dead_at = CASE WHEN f.permanent OR t.attempts + 1 >= $5 THEN now() END
                FROM unnest($1::text[], $2::text[], $3::bool[]) AS f(id, error, permanent)
                WHERE t.{self.key} = f.id
                RETURNING t.{self.key}{extra}, t.attempts, t.dead_at IS NOT NULL AS dead""",
            ids, errors, permanent, backoff_s, max_attempts)
