"""Runs one database's outbox relay on its own: `python -m runtime.relay_process <service> <dsn>`."""

from __future__ import annotations

import sys

import uvloop

from runtime import security
from runtime.db import create_pool, migrate
from runtime.logging import configure_logging
from runtime.outbox import OutboxRelay
from runtime.settings import get_settings


async def main(service: str, dsn: str) -> None:
    settings = get_settings()
    configure_logging(f"{service}-relay", settings.log_level)
    pool = await create_pool(settings.migrations_dsn(service) if service in security.SERVICES else dsn)
    await migrate(pool)
    await pool.close()  # the relay works on a connection of its own
    who = security.principal("service", service) if service in security.SERVICES else security.ADMIN
    relay = OutboxRelay(dsn, service, security.client_options(settings, who), settings.relay_batch_size,
                        settings.relay_poll_interval_ms / 1000, hold_interval=settings.hold_state_ms / 1000)
    await relay.run()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2]))
