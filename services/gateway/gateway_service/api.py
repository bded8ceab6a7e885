"""The HTTP edge: signed channel endpoints, the Shopify adapter, the order API, operator search and the customer
tracking page. Everything it needs from outside (secrets, publishing, the read model) comes in a `Gate`, so the
same app runs on the real stack and in the fast tests."""

from __future__ import annotations

import hmac
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from contracts.base import Message
from contracts.channels import (
    OrderCancelRequested,
    OrderChangeRequested,
    OrderReturnRequested,
    OrderSubmitted,
    order_id_for,
)
from gateway_service import shopify
from gateway_service.page import tracking_context
from shared import metrics, signing
from shared.logging import log
from shared.messaging import problems
from shared.network import Network

MAX_BODY = 256 * 1024  # far above the largest valid order (200 lines): anything bigger is refused unread
ACTIONS: dict[str, type[Message]] = {"cancel": OrderCancelRequested, "return": OrderReturnRequested,
                                     "change": OrderChangeRequested}
# every answer: no framing, no sniffing, no referrer leaking a tracking token; the page's own inline styles only
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
GATEWAY_IDS = uuid.UUID("3b0f6b52-7f0e-4f55-9d0b-2a3c5f1e9a11")
_pages = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())


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


SHOPIFY_REPLAY_KEEP_S = 30 * 24 * 3600  # Shopify signs no time: a captured delivery is known again for a month


class Unavailable(Exception):
    """The broker did not take the message in time: nothing was accepted, the sender should try again."""


@dataclass
class Gate:
    network: Network
    secrets: Mapping[str, tuple[str, str]]  # channel: (webhook_secret, api_token)
    operator_token: str
    publish: Publish
    reads: Reads
    clock: Callable[[], float] = time.time
    replays: Replays = field(default_factory=MemoryReplays)
    limits: TokenBuckets = field(default_factory=TokenBuckets)


def error(status: int, message: str, reasons: list[str] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"reasons": reasons} if reasons else {})}, status, headers=headers)


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


def bearer(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())


def create_app(gate: Gate) -> FastAPI:
    app = FastAPI(title="OMS gateway", version="1.1",
                  description="Channels post orders here instead of writing to Kafka; customers follow their orders. "
                              "Every POST is signed: `X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                              "\"<t>.<raw body>\" with the channel's webhook_secret>`.")

    async def accept(request: Request, channel: str, model: type[Message], path_ids: dict[str, str],
                     verify: Callable[[str, bytes], tuple[str, float]],
                     mapped: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
        if channel not in gate.secrets:
            return error(404, f"no channel {channel!r}")
        if wait := gate.limits.wait_s(channel):
            log.warning("gateway.rate_limited", channel=channel)
            return error(429, f"more requests than {channel!r} may send: try again later",
                         headers={"Retry-After": str(max(1, math.ceil(wait)))})
        raw = await read_body(request)
        if raw is None:
            return error(413, f"body larger than {MAX_BODY} bytes")
        try:
            digest, keep_s = verify(gate.secrets[channel][0], raw)
        except signing.BadSignature as exc:
            log.warning("gateway.unauthorized", channel=channel, why=str(exc))
            return error(401, str(exc))
        replay_key = f"{channel}/{digest}"  # the verified digest: one request however its signature is spelled
        replayed = await gate.replays.answered(replay_key)
        if replayed is not None:
            log.warning("gateway.replayed", channel=channel, order_id=replayed.get("order_id"))
            return JSONResponse({"error": "this very request was answered already", **replayed}, 409)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error(400, "not valid JSON", [str(exc)])
        try:
            body = mapped(body) if mapped else body
        except shopify.NotMappable as exc:
            return error(400, "not an order the OMS can take", exc.reasons)
        if not isinstance(body, dict):
            return error(400, "not a JSON object")
        expected = model.model_fields["type"].default
        body.setdefault("type", expected)
        body.setdefault("id", str(uuid.uuid5(GATEWAY_IDS, replay_key)))  # a retry is the same message
        for name, value in {"channel": channel, **path_ids}.items():
            body.setdefault(name, value)
            if body[name] != value:
                return error(403 if name == "channel" else 400, f"{name} {body[name]!r} in the body is not the "
                             f"{name} of the URL ({value!r}): a channel sends only its own orders")
        if body["type"] != expected:
            return error(400, f"type {body['type']!r} is not {expected!r} (what this URL takes)")
        try:
            message = model.model_validate(body)
        except ValidationError as exc:
            return error(400, f"invalid {expected}", problems(exc))
        external_id = str(body["external_id"])
        try:
            await gate.publish(channel, f"{channel}:{external_id}", message)
        except Unavailable as exc:
            log.warning("gateway.unavailable", channel=channel, error=str(exc))
            return error(503, "the OMS cannot take it now: send it again", headers={"Retry-After": "5"})
        answer = {"order_id": order_id_for(channel, external_id), "message_id": message.id, "type": expected}
        await gate.replays.remember(replay_key, answer, keep_s)
        log.info("gateway.accepted", channel=channel, type=expected, order_id=answer["order_id"])
        return JSONResponse(answer, 202)

    def oms_signature(request: Request) -> Callable[[str, bytes], tuple[str, float]]:
        def check(secret: str, raw: bytes) -> tuple[str, float]:
            digest = signing.verify(secret, request.headers.get(signing.HEADER), raw, now=gate.clock())
            return digest, 2 * signing.WINDOW_S  # older than the window, a replay is stale anyway
        return check

    @app.post("/v1/channels/{channel}/orders", status_code=202, tags=["channels"],
              openapi_extra=_body("OrderSubmitted"), summary="Submit an order (order.submitted)")
    async def submit(channel: str, request: Request) -> Response:
        return await accept(request, channel, OrderSubmitted, {}, oms_signature(request))

    @app.post("/v1/channels/{channel}/orders/{external_id}/{action}", status_code=202, tags=["channels"],
              summary="Cancel (all or some lines), return, or change an order")
    async def act(channel: str, external_id: str, action: str, request: Request) -> Response:
        model = ACTIONS.get(action)
        if model is None:
            return error(404, f"no action {action!r}: one of {', '.join(ACTIONS)}")
        return await accept(request, channel, model, {"external_id": external_id}, oms_signature(request))

    @app.post("/v1/channels/{channel}/shopify/orders", status_code=202, tags=["channels"],
              summary="A Shopify orders/create webhook, as Shopify sends it (X-Shopify-Hmac-Sha256)")
    async def shopify_order(channel: str, request: Request) -> Response:
        def check(secret: str, raw: bytes) -> tuple[str, float]:  # the webhook id is not signed: the body's digest is
            return (f"shopify/{signing.shopify_verify(secret, request.headers.get('x-shopify-hmac-sha256'), raw)}",
                    SHOPIFY_REPLAY_KEEP_S)
        return await accept(request, channel, OrderSubmitted, {}, check, lambda o: shopify.to_submitted(o, channel))

    @app.get("/v1/channels/{channel}/orders/{external_id}", tags=["channels"],
             summary="An order of this channel: status, shipments with tracking, returns, timeline")
    async def get_order(channel: str, external_id: str, request: Request) -> Response:
        if channel not in gate.secrets:
            return error(404, f"no channel {channel!r}")
        if not bearer(request, gate.secrets[channel][1]):
            return error(401, "Authorization: Bearer <the channel's api_token> required")
        view = await gate.reads.order(channel, external_id)
        if view is None:
            return error(404, f"no order {external_id!r} of {channel!r} (or not seen yet)")
        return JSONResponse(_public(view))

    @app.get("/v1/orders", tags=["operators"], summary="Operators: a customer's orders by e-mail or phone")
    async def find_orders(request: Request, email: str | None = None, phone: str | None = None) -> Response:
        if not bearer(request, gate.operator_token):
            return error(401, "Authorization: Bearer <the operators' api_token> required")
        if not email and not phone:
            return error(400, "give email or phone")
        found = await gate.reads.search(email, phone)
        return JSONResponse({"orders": [_public(v) for v in found]})

    @app.post("/v1/webhooks/retry", tags=["operators"], summary="Operators: post dead webhook deliveries again")
    async def retry_webhooks(request: Request, subscriber: str | None = None) -> Response:
        if not bearer(request, gate.operator_token):
            return error(401, "Authorization: Bearer <the operators' api_token> required")
        retried = await gate.reads.retry_dead(subscriber)
        log.warning("gateway.webhooks_retried", subscriber=subscriber, deliveries=retried)
        return JSONResponse({"retried": retried})

    @app.get("/track/{token}", response_class=HTMLResponse, tags=["customers"],
             summary="A customer's tracking page (the link in every notification)")
    async def track(token: str) -> Response:
        view = await gate.reads.tracked(token)
        if view is None:
            return HTMLResponse(_pages.get_template("unknown.html").render(), 404)
        return HTMLResponse(_pages.get_template("track.html").render(**tracking_context(view, gate.network)),
                            headers={"Cache-Control": "no-store"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not bearer(request, gate.operator_token):  # Prometheus scrapes the service's own metrics port
            return error(401, "Authorization: Bearer <the operators' api_token> required")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def measured(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unknown")  # the template: no ids in a label
        metrics.HTTP.labels(route, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
        response.headers.update(SECURITY_HEADERS if not request.url.path.startswith(("/docs", "/redoc"))
                                else {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"})
        return response

    _document_bodies(app)
    return app


def _public(view: Mapping[str, Any]) -> dict[str, Any]:
    """An order as the API shows it (times as ISO text; never its tracking token: that is the customer's)."""
    return orjson.loads(orjson.dumps({k: v for k, v in view.items() if k != "tracking_token"}))


def _body(model: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model}"}}}}}


def _document_bodies(app: FastAPI) -> None:
    """The request bodies the endpoints read themselves (they check the signature over the raw bytes first) are
    documented from the same pydantic contracts that validate them."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        models: list[type[Message]] = [OrderSubmitted, *ACTIONS.values()]
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document
    app.openapi = openapi  # type: ignore[method-assign]
