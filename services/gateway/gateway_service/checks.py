"""The checks a request passes before a route acts, as FastAPI dependencies: the channel and its rate, the body's
size, signature and replays, the bearer tokens. One that fails raises `Refused`, which the app answers as
`{"error": ..., "reasons": [...]}` with its status. Every check is `async def`, even one that awaits nothing: FastAPI
runs a plain `def` dependency in a thread of its pool, a hop to and from a thread for each check of each request."""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from gateway_service.edge import MAX_BODY, Gate
from runtime import signing
from runtime.logging import log

SHOPIFY_REPLAY_KEEP_S = 30 * 24 * 3600  # Shopify signs no time: a captured delivery is known again for a month


class Refused(Exception):
    """A request the gateway will not act on: its status, why, and (`more`) what else the answer carries."""

    def __init__(self, status: int, message: str, reasons: list[str] | None = None,
                 headers: dict[str, str] | None = None, **more: Any) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers
        self.body = {"error": message, **({"reasons": reasons} if reasons else {}), **more}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, self.status, headers=self.headers)


async def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


GateOf = Annotated[Gate, Depends(gate_of)]


async def known_channel(channel: str, gate: GateOf) -> str:
    if channel not in gate.secrets:
        raise Refused(404, f"no channel {channel!r}")
    return channel


async def within_rate(channel: Annotated[str, Depends(known_channel)], gate: GateOf) -> str:
    if wait := gate.limits.wait_s(channel):
        log.warning("gateway.rate_limited", channel=channel)
        raise Refused(429, f"more requests than {channel!r} may send: try again later",
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return channel


@dataclass(frozen=True)
class Signed:
    """A request body whose signature holds, not answered before: `replay_key` names it however it is signed."""

    channel: str
    raw: bytes
    replay_key: str
    keep_s: float  # how long a replay of it is known


async def read_body(request: Request) -> bytes | None:
    """The raw body, or None when it is bigger than `MAX_BODY` (not read further)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


async def _signed(request: Request, gate: Gate, channel: str,
                  verify: Callable[[str, bytes], tuple[str, float]]) -> Signed:
    raw = await read_body(request)
    if raw is None:
        raise Refused(413, f"body larger than {MAX_BODY} bytes")
    try:
        digest, keep_s = verify(gate.secrets[channel][0], raw)
    except signing.BadSignature as exc:
        log.warning("gateway.unauthorized", channel=channel, why=str(exc))
        raise Refused(401, str(exc)) from exc
    replay_key = f"{channel}/{digest}"  # the verified digest: one request however its signature is spelled
    replayed = await gate.replays.answered(replay_key)
    if replayed is not None:
        log.warning("gateway.replayed", channel=channel, order_id=replayed.get("order_id"))
        raise Refused(409, "this very request was answered already", **replayed)
    return Signed(channel, raw, replay_key, keep_s)


async def oms_signed(request: Request, gate: GateOf, channel: Annotated[str, Depends(within_rate)]) -> Signed:
    """`X-OMS-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>">` with the channel's webhook secret."""
    def verify(secret: str, raw: bytes) -> tuple[str, float]:
        digest = signing.verify(secret, request.headers.get(signing.HEADER), raw, now=gate.clock())
        return digest, 2 * signing.WINDOW_S  # older than the window, a replay is stale anyway
    return await _signed(request, gate, channel, verify)


async def shopify_signed(request: Request, gate: GateOf, channel: Annotated[str, Depends(within_rate)]) -> Signed:
    """`X-Shopify-Hmac-Sha256`, as Shopify signs its webhooks (the webhook id is not signed: the body's digest is)."""
    def verify(secret: str, raw: bytes) -> tuple[str, float]:
        digest = signing.shopify_verify(secret, request.headers.get("x-shopify-hmac-sha256"), raw)
        return f"shopify/{digest}", SHOPIFY_REPLAY_KEEP_S
    return await _signed(request, gate, channel, verify)


def bearer(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())


async def channel_reader(request: Request, gate: GateOf, channel: Annotated[str, Depends(known_channel)]) -> str:
    if not bearer(request, gate.secrets[channel][1]):
        raise Refused(401, "Authorization: Bearer <the channel's api_token> required")
    return channel


async def operator(request: Request, gate: GateOf) -> None:
    if not bearer(request, gate.operator_token):
        raise Refused(401, "Authorization: Bearer <the operators' api_token> required")
