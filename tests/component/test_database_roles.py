"""PostgreSQL least privilege: each service logs in with a password as its own role, which owns its database and
may not even connect to another's; the operators' role reads and cannot write; nobody is let in without the
password."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from runtime.db import MigrationChanged, migrate
from runtime.security import DATABASE_OPERATOR
from runtime.settings import database_passwords, get_settings

pytestmark = pytest.mark.component


async def test_each_service_reaches_its_own_database_only_and_operators_only_read(stack):
    settings = get_settings()
    order = await asyncpg.connect(settings.database_for("order"))
    try:
        assert await order.fetchval("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                                    "WHERE rolname = current_user") is False
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the role a service runs as: rows, not the schema
            await order.execute("CREATE TABLE roles_denied (n int)")
        migrator = await asyncpg.connect(settings.migrations_dsn("order"))
        try:
            await migrator.execute("CREATE TABLE IF NOT EXISTS roles_probe (n int)")
        finally:
            await migrator.close()
        await order.execute("INSERT INTO roles_probe VALUES (1)")  # a table made since: its rows are the service's
    finally:
        await order.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(settings.dsn("oms_inventory", "oms_order"))

    operator = await asyncpg.connect(settings.database_for("order", DATABASE_OPERATOR))
    try:
        assert await operator.fetchval("SELECT count(*) FROM roles_probe") >= 1  # a table made since: readable
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await operator.execute("UPDATE roles_probe SET n = n")
    finally:
        await operator.close()

    password = database_passwords(settings)["oms_order"]
    wrong = settings.database_for("order").replace(f":{password}@", ":not-the-password@")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_a_migration_changed_after_it_was_applied_stops_the_start(test_db: asyncpg.Pool, tmp_path: Path):
    folder = tmp_path / f"probe{uuid.uuid4().hex[:8]}" / "sql"
    folder.mkdir(parents=True)
    table = f"probe_{uuid.uuid4().hex[:8]}"
    (folder / "0001_probe.sql").write_text(f"CREATE TABLE {table} (n int);")
    assert await migrate(test_db, folder) == [f"{folder.parent.name}/0001_probe.sql"]
    assert await migrate(test_db, folder) == [], "applied once"
    (folder / "0001_probe.sql").write_text(f"CREATE TABLE {table} (n bigint);")
    with pytest.raises(MigrationChanged, match="changed after it was applied"):
        await migrate(test_db, folder)
