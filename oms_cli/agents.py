"""`oms agent`: the desk's people, kept in the gateway's database (its own role writes them, as the gateway does)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from gateway_service.agents import Agents
from rules.network import load_network
from runtime.deps import Deps
from runtime.settings import Settings

T = TypeVar("T")


async def with_agents(settings: Settings, do: Callable[[Agents], Awaitable[T]]) -> T:
    pool = await asyncpg.create_pool(settings.database_for("gateway"), min_size=1, max_size=1)
    try:
        return await do(Agents(Deps(service="gateway", settings=settings, pool=pool,
                                    network=load_network(settings.network_file))))
    except asyncpg.UndefinedTableError as exc:
        raise RuntimeError("the gateway's database has no desk yet: start the OMS once (make up)") from exc
    finally:
        await pool.close()


def login_link(settings: Settings, token: str) -> str:
    return f"{settings.gateway_url.rstrip('/')}/desk/login/{token}"
