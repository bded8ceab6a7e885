"""PostgreSQL least privilege: each service logs in with a password as its own role, which owns its database and
may not even connect to another's; the operators' role reads and cannot write; nobody is let in without the
password."""

from __future__ import annotations

import asyncpg
import pytest

from shared.security import DATABASE_OPERATOR
from shared.settings import database_passwords, get_settings

pytestmark = pytest.mark.component


async def test_each_service_reaches_its_own_database_only_and_operators_only_read(stack):
    settings = get_settings()
    order = await asyncpg.connect(settings.database_for("order"))
    try:
        assert await order.fetchval("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                                    "WHERE rolname = current_user") is False
        await order.execute("CREATE TABLE IF NOT EXISTS roles_probe (n int); INSERT INTO roles_probe VALUES (1)")
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

    password = database_passwords(settings.home)["oms_order"]
    wrong = settings.database_for("order").replace(f":{password}@", ":not-the-password@")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)
