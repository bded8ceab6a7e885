"""The desk's people: agents and supervisors, what each role may do, their passwords, one-time login links and
signed-in sessions. The rules are pure (`may`, `refund_allowed`, `hashed`, `password_matches`); `Agents` keeps them
in the gateway's database, every secret as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Literal

import asyncpg

from runtime.deps import Deps
from runtime.maintenance import maintenance
from runtime.postgres import within
from runtime.repository import Rows
from runtime.tables import Database, Table
from runtime.unit import UnitOfWork

Role = Literal["agent", "supervisor"]
ROLES: tuple[Role, ...] = ("agent", "supervisor")
# what each role may do at the desk; a supervisor refunds above the agents' limit and moves fulfillments
AGENT = frozenset(("cancel", "change", "hold", "release", "note", "refund", "resend", "phone_order"))
RIGHTS: dict[str, frozenset[str]] = {"agent": AGENT, "supervisor": AGENT | {"move", "refund_above_limit"}}
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


def may(role: str, action: str) -> bool:
    return action in RIGHTS.get(role, frozenset())


def refund_allowed(role: str, amount: Decimal, limit: Decimal) -> str | None:
    """None when an agent of `role` may give this goodwill refund, else why not."""
    if amount <= 0:
        return "a refund is more than nothing"
    if amount > limit and not may(role, "refund_above_limit"):
        return f"{amount} is above the {limit} an agent may refund: a supervisor can"
    return None


def valid_name(name: str) -> str:
    if not (2 <= len(name) <= 64) or not set(name) <= NAME_CHARS:
        raise ValueError(f"{name!r}: an agent's name is 2-64 of a-z, 0-9, '.', '_' and '-'")
    return name


def token() -> str:
    return secrets.token_urlsafe(32)


def hashed(secret: str) -> str:
    """A login link's or a session's token as it is kept (a leaked row signs no one in)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, _ = stored.split("$")
    return hmac.compare_digest(password_hash(password, bytes.fromhex(salt)), stored)


@dataclass(frozen=True)
class Session:
    """A signed-in agent: who, their role, the form token every change must carry, and until when."""

    agent: str
    role: str
    csrf: str
    expires_at: datetime

    def csrf_matches(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.csrf.encode())  # type: ignore[union-attr]


AGENTS = Table("agents", ("name",), {"name": "text", "role": "text", "password_hash": "text"},
               updates=("role", "password_hash"), touch=False)
LOGINS = Table("agent_logins", ("token_hash",), {"token_hash": "text", "agent": "text", "expires_at": "timestamptz",
                                                 "used_at": "timestamptz"}, updates=("used_at",), touch=False)
SESSIONS = Table("agent_sessions", ("token_hash",), {"token_hash": "text", "agent": "text", "csrf": "text",
                                                     "expires_at": "timestamptz"})
# sessions a day past their end are forgotten (an expired one is refused already)
FORGET_SESSIONS = maintenance("agent_sessions.forget", "DELETE FROM agent_sessions WHERE expires_at < now() - "
                                                       "interval '1 day'")


class DeskWork(UnitOfWork):
    """The desk's writes: agents, their login links and sessions (each change its own small unit)."""

    def __init__(self, deps: Deps, db: Database) -> None:
        super().__init__(deps, db)
        self.agents = self.repository(Rows(db, AGENTS))
        self.logins = self.repository(Rows(db, LOGINS))
        self.sessions = self.repository(Rows(db, SESSIONS))


class Agents:
    """The agents, their login links and sessions, in the gateway's database (written by `DeskWork`)."""

    def __init__(self, deps: Deps) -> None:
        self.deps, self.pool = deps, deps.pool
        self.session_s, self.link_s = deps.settings.desk_session_s, deps.settings.desk_link_s

    def work(self) -> AbstractAsyncContextManager[DeskWork]:
        return within(self.pool, partial(DeskWork, self.deps))

    async def add(self, name: str, role: str, password: str | None = None) -> str:
        """A new agent (or the same name anew, with this role); returns a one-time login link's token."""
        if role not in ROLES:
            raise ValueError(f"no role {role!r}: one of {', '.join(ROLES)}")
        link, stored = token(), password_hash(password) if password else None
        async with self.work() as unit:
            if await unit.agents.get(valid_name(name)) is None:
                unit.agents.add({"name": name, "role": role, "password_hash": stored})
            else:
                unit.agents.save(name, role=role, password_hash=stored)
            unit.logins.add({"token_hash": hashed(link), "agent": name, "used_at": None,
                             "expires_at": unit.now() + timedelta(seconds=self.link_s)})
        return link

    async def remove(self, name: str) -> bool:
        """The agent is gone, and so are their links and sessions (signed out at once: the rows cascade)."""
        async with self.work() as unit:
            if await unit.agents.get(name) is None:
                return False
            unit.agents.remove(name)
        return True

    async def listed(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(  # type: ignore[no-any-return]
            "SELECT a.name, a.role, a.password_hash IS NOT NULL AS has_password, a.created_at, "
            "(SELECT count(*) FROM agent_sessions s WHERE s.agent = a.name AND s.expires_at > now()) AS sessions "
            "FROM agents a ORDER BY a.name")

    async def redeem(self, link: str) -> str | None:
        """A one-time link's agent, once: the link is used up (or None when unknown, used or expired)."""
        async with self.work() as unit:
            found = await unit.logins.get(hashed(link))
            if found is None or found["used_at"] is not None or found["expires_at"] <= unit.now():
                return None
            unit.logins.save(found["token_hash"], used_at=unit.now())
            return str(found["agent"])

    async def check_password(self, name: str, password: str) -> str | None:
        stored = await self.pool.fetchval("SELECT password_hash FROM agents WHERE name = $1", name)
        return name if password_matches(password, stored) else None

    async def sign_in(self, agent: str) -> str:
        """A new session of `agent`: its token, for the cookie."""
        session = token()
        async with self.work() as unit:
            unit.sessions.add({"token_hash": hashed(session), "agent": agent, "csrf": token(),
                               "expires_at": unit.now() + timedelta(seconds=self.session_s)})
        return session

    async def session(self, cookie: str | None) -> Session | None:
        """The signed-in agent of this cookie, while its session lasts and the agent exists."""
        if not cookie:
            return None
        row = await self.pool.fetchrow(
            "SELECT s.agent, a.role, s.csrf, s.expires_at FROM agent_sessions s JOIN agents a ON a.name = s.agent "
            "WHERE s.token_hash = $1 AND s.expires_at > now()", hashed(cookie))
        return Session(row["agent"], row["role"], row["csrf"], row["expires_at"]) if row else None

    async def sign_out(self, cookie: str) -> None:
        async with self.work() as unit:
            if await unit.sessions.get(hashed(cookie)) is not None:
                unit.sessions.remove(hashed(cookie))
