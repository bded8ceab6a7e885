"""What the HTTP edge needs from outside, as ports: the channels' secrets, publishing, the read model, the requests
answered already, the rate limits. `server.py` fills them from the stack; the fast tests with stand-ins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from contracts.base import Message
from rules.network import Network

MAX_BODY = 256 * 1024  # far above the largest valid order (200 lines): anything bigger is refused unread


class Reads(Protocol):
    """The read model, as the API asks it."""

    async def order(self, channel: str, external_id: str) -> dict[str, Any] | None: ...

    async def tracked(self, token: str) -> dict[str, Any] | None: ...

    async def search(self, email: str | None, phone: str | None) -> list[dict[str, Any]]: ...

    async def retry_dead(self, subscriber: str | None) -> int: ...


Publish = Callable[[str, str, Message], Awaitable[None]]  # channel, key, message: returns once the broker has it


class Replays(Protocol):
    """The requests answered already, by their verified digest: shared by every gateway instance, kept across
    restarts (PostgreSQL on the stack)."""

    async def answered(self, key: str) -> dict[str, Any] | None: ...

    async def remember(self, key: str, answer: dict[str, Any], keep_s: float) -> None: ...


@dataclass
class MemoryReplays:
    """One process's memory: for the fast tests."""

    seen: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def answered(self, key: str) -> dict[str, Any] | None:
        return self.seen.get(key)

    async def remember(self, key: str, answer: dict[str, Any], keep_s: float) -> None:
        self.seen.setdefault(key, answer)


@dataclass
class TokenBuckets:
    """At most `rate` requests a second per channel on average, `burst` at once; 0: no limit."""

    rate: float = 0.0
    burst: float = 0.0
    clock: Callable[[], float] = time.monotonic
    tokens: dict[str, tuple[float, float]] = field(default_factory=dict)  # channel: (tokens, when)

    def wait_s(self, channel: str) -> float:
        """0 when the request may go on (and it takes a token), else how long until it could."""
        if self.rate <= 0:
            return 0.0
        now, most = self.clock(), self.burst or self.rate
        tokens, then = self.tokens.get(channel, (most, now))
        tokens = min(most, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.tokens[channel] = (tokens, now)
            return (1 - tokens) / self.rate
        self.tokens[channel] = (tokens - 1, now)
        return 0.0


@dataclass
class QuoteWaiters:
    """The promise requests this instance posted and waits to answer: each answered when its `promise.quoted`
    arrives (`arrived`, fed by the gateway's listener on the quotes topic)."""

    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    def expect(self, request_id: str) -> asyncio.Future[dict[str, Any]]:
        future = self.waiting[request_id] = asyncio.get_running_loop().create_future()
        return future

    def arrived(self, quoted: dict[str, Any]) -> None:
        future = self.waiting.pop(str(quoted.get("request_id")), None)
        if future is not None and not future.done():
            future.set_result(quoted)

    def forget(self, request_id: str) -> None:
        self.waiting.pop(request_id, None)


class DeskReads(Protocol):
    """The read model as the desk asks it."""

    async def desk_order(self, order_id: str) -> dict[str, Any] | None: ...

    async def desk_search(self, text: str) -> list[dict[str, Any]]: ...

    async def attention(self) -> list[dict[str, Any]]: ...


class AgentStore(Protocol):
    """The desk's agents and their sessions (`agents.Agents` on the stack)."""

    async def redeem(self, link: str) -> str | None: ...

    async def check_password(self, name: str, password: str) -> str | None: ...

    async def sign_in(self, agent: str) -> str: ...

    async def session(self, cookie: str | None) -> Any: ...

    async def sign_out(self, cookie: str) -> None: ...


@dataclass
class Desk:
    """What the customer-service desk needs: its agents, its reads, and `send`, which puts a request on
    `oms.orders.inbound.v1` (key, message) and returns once the broker has it."""

    agents: AgentStore
    reads: DeskReads
    send: Callable[[str, Message], Awaitable[None]]
    refund_limit: Decimal = Decimal("50")
    secure_cookies: bool = False  # the gateway is served over https: the login cookie is sent over https only


class Unavailable(Exception):
    """The broker did not take the message in time: nothing was accepted, the sender should try again."""


@dataclass
class Gate:
    """Everything the app is given: built once by the gateway's HTTP server from its settings."""

    network: Network
    secrets: Mapping[str, tuple[str, str]]  # channel: (webhook_secret, api_token)
    operator_token: str
    publish: Publish
    reads: Reads
    clock: Callable[[], float] = time.time
    replays: Replays = field(default_factory=MemoryReplays)
    limits: TokenBuckets = field(default_factory=TokenBuckets)
    quotes: QuoteWaiters = field(default_factory=QuoteWaiters)
    quote_timeout_s: float = 10.0  # a promise request not quoted by then is answered 504
    desk: Desk | None = None  # the customer-service desk (`/desk`), where the gateway runs one
