"""The desk's people: agents and supervisors, what each role may do, their passwords, one-time login links and
signed-in sessions. The rules are pure (`may`, `refund_allowed`, `hashed`, `password_matches`); `Agents` keeps them
in the gateway's database, every secret as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import asyncpg

Role = Literal["agent", "supervisor"]
ROLES: tuple[Role, ...] = ("agent", "supervisor")
# what each role may do at the desk; a supervisor refunds above the agents' limit and moves fulfillments
RIGHTS: dict[str, frozenset[str]] = {
    "agent": frozenset(("cancel", "change", "hold", "release", "note", "refund", "resend", "phone_order")),
    "supervisor": frozenset(("cancel", "change", "hold", "release", "note", "refund", "resend", "phone_order",
                             "move", "refund_above_limit")),
}
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


class NotAllowed(Exception):
    """What the agent's role does not allow: answered 403, nothing sent."""


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


class Agents:
    """The agents, their login links and sessions, in the gateway's database."""

    def __init__(self, pool: asyncpg.Pool, session_s: float, link_s: float) -> None:
        self.pool, self.session_s, self.link_s = pool, session_s, link_s

    async def add(self, name: str, role: str, password: str | None = None) -> str:
        """A new agent (or the same name anew, with this role); returns a one-time login link's token."""
        if role not in ROLES:
            raise ValueError(f"no role {role!r}: one of {', '.join(ROLES)}")
        link = token()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO agents (name, role, password_hash) VALUES ($1, $2, $3) "
                               "ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = $3",
                               valid_name(name), role, password_hash(password) if password else None)
            await conn.execute("INSERT INTO agent_logins (token_hash, agent, expires_at) "
                               "VALUES ($1, $2, now() + $3::interval)", hashed(link), name,
                               timedelta(seconds=self.link_s))
        return link

    async def remove(self, name: str) -> bool:
        """The agent is gone, and so are their links and sessions (signed out at once)."""
        done: str = await self.pool.execute("DELETE FROM agents WHERE name = $1", name)
        return done != "DELETE 0"

    async def listed(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(  # type: ignore[no-any-return]
            "SELECT a.name, a.role, a.password_hash IS NOT NULL AS has_password, a.created_at, "
            "(SELECT count(*) FROM agent_sessions s WHERE s.agent = a.name AND s.expires_at > now()) AS sessions "
            "FROM agents a ORDER BY a.name")

    async def redeem(self, link: str) -> str | None:
        """A one-time link's agent, once: the link is used up (or None when unknown, used or expired)."""
        return await self.pool.fetchval(  # type: ignore[no-any-return]
            "UPDATE agent_logins SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL "
            "AND expires_at > now() RETURNING agent", hashed(link))

    async def check_password(self, name: str, password: str) -> str | None:
        stored = await self.pool.fetchval("SELECT password_hash FROM agents WHERE name = $1", name)
        return name if password_matches(password, stored) else None

    async def sign_in(self, agent: str) -> str:
        """A new session of `agent`: its token, for the cookie."""
        session = token()
        await self.pool.execute("INSERT INTO agent_sessions (token_hash, agent, csrf, expires_at) "
                                "VALUES ($1, $2, $3, now() + $4::interval)", hashed(session), agent, token(),
                                timedelta(seconds=self.session_s))
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
        await self.pool.execute("DELETE FROM agent_sessions WHERE token_hash = $1", hashed(cookie))

    async def forget_expired(self) -> int:
        done = await self.pool.execute("DELETE FROM agent_sessions WHERE expires_at < now() - interval '1 day'")
        return int(done.split()[-1])
