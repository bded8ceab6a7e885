"""One asyncpg pool per service, and the runner of numbered plain-SQL migrations."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from runtime.logging import log

SHARED_SQL = Path(__file__).parent / "sql"


async def keep_session(conn: asyncpg.Connection) -> None:
    """Handlers leave no session state behind (no SET, LISTEN or open cursor), so the reset round trip is skipped."""


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    # no JIT: short statements, and a plan made dear by a disabled path (the relay's) compiled for 0.3 s a call
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=60, reset=keep_session,
                                     server_settings={"jit": "off"})
    assert pool is not None
    return pool


class MigrationChanged(RuntimeError):
    """A migration file differs from the one applied: the schema no longer says what the files say."""


def service_migrations(service: str) -> Path:
    """Where a service's own numbered migrations are (the shared ones come first, from `SHARED_SQL`)."""
    return Path(__file__).parent.parent / "services" / service / f"{service}_service" / "sql"


def migration_name(folder: Path, path: Path) -> str:
    """How `schema_migrations` knows a migration: its package and file (the runtime's keep the name they were
    applied under, `shared/`, from before the runtime had a package of its own)."""
    return f"{'shared' if folder == SHARED_SQL else folder.parent.name}/{path.name}"


async def unapplied(pool: asyncpg.Pool, *folders: Path) -> list[str]:
    """The migrations not yet applied (a service launched without a migration role checks, and refuses to run)."""
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")} if exists else set()
    return [migration_name(folder, path) for folder in (SHARED_SQL, *folders)
            for path in sorted(folder.glob("[0-9]*.sql")) if migration_name(folder, path) not in done]


async def migrate(pool: asyncpg.Pool, *folders: Path, lock_timeout: str = "10s") -> list[str]:
    """Applies every `NNNN_name.sql` not yet applied, in order, each in its own transaction under one advisory lock
    (one service instance migrates, the others wait), and records its checksum. A migration waits at most
    `lock_timeout` for a table's lock (a migration stuck behind a long transaction fails instead of stopping every
    query queued behind it); an applied file that has since changed stops the service (`MigrationChanged`)."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext('oms.migrate'))")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now()); "
                "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
            done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
            for folder in (SHARED_SQL, *folders):
                for path in sorted(folder.glob("[0-9]*.sql")):
                    name, text = migration_name(folder, path), path.read_text()
                    checksum = hashlib.sha256(text.encode()).hexdigest()
                    if name in done:
                        if done[name] is None:  # applied before checksums were kept
                            await conn.execute("UPDATE schema_migrations SET checksum = $2 WHERE name = $1", name,
                                               checksum)
                        elif done[name] != checksum:
                            raise MigrationChanged(f"{name} changed after it was applied: add a new migration instead")
                        continue
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
                        await conn.execute(text)
                        await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name,
                                           checksum)
                    applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('oms.migrate'))")
    if applied:
        log.info("db.migrated", applied=applied)
    return applied


@dataclass
class DatabaseClock:
    """The database's time as this process reads it (its offset from the host's clock, measured every minute), so
    that deadlines are written on the clock the pollers compare them with, whatever the hosts' clocks say."""

    offset: timedelta = timedelta(0)
    host: Callable[[], float] = time.time  # the host's clock, in seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.host(), UTC) + self.offset

    async def sync(self, pool: asyncpg.Pool) -> None:
        before = self.host()
        database_now = await pool.fetchval("SELECT clock_timestamp()")
        self.offset = database_now - datetime.fromtimestamp((before + self.host()) / 2, UTC)
