"""The HTTP edge as one FastAPI app: a router per audience (`routes/`), the checks they depend on (`checks.py`),
and what every answer gets (security headers, metrics, errors as `{"error": ...}`). Everything it needs from
outside comes in a `Gate` (`edge.py`), so the same app runs on the real stack and in the fast tests."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.promises import PromiseRequested
from gateway_service.checks import Refused
from gateway_service.edge import Gate
from gateway_service.routes import channels, desk, operators, shopify, tracking
from runtime import metrics

# every answer: no framing, no sniffing, no referrer leaking a tracking token; the page's own inline styles only
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
DOCS = ("/docs", "/redoc")
# the desk's pages post their forms to the desk itself, nowhere else
DESK_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
    "form-action 'none'", "form-action 'self'")}


def _raw(headers: dict[str, str]) -> tuple[list[tuple[bytes, bytes]], frozenset[bytes]]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return raw, frozenset(name for name, _ in raw)


# encoded once, not per request
_RAW_DESK, _RAW_API = _raw(DESK_HEADERS), _raw(SECURITY_HEADERS)
_RAW_DOCS = _raw({k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"})


def security_headers(path: str) -> tuple[list[tuple[bytes, bytes]], frozenset[bytes]]:
    """The headers an answer on `path` gets, and their names (a route's own of the same name is replaced)."""
    return _RAW_DESK if path.startswith("/desk") else _RAW_API if not path.startswith(DOCS) else _RAW_DOCS


class Measured:
    """Every answer counted and timed by its route's template (no ids in a label), with the security headers. A
    plain ASGI middleware: Starlette's `BaseHTTPMiddleware` would run each request in a task group of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        extra, names = security_headers(scope["path"])

        async def answer(message: AsgiMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                message = {**message, "headers": headers + extra}
            await send(message)
        try:
            await self.app(scope, receive, answer)
        finally:
            route = getattr(scope.get("route"), "path", "unknown")  # the template the router matched
            metrics.HTTP.labels(route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


def create_app(gate: Gate) -> FastAPI:
    app = FastAPI(title="OMS gateway", version="1.1",
                  description="Channels post orders here instead of writing to Kafka; customers follow their orders. "
                              "Every POST is signed: `X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                              "\"<t>.<raw body>\" with the channel's webhook_secret>`.")
    app.state.gate = gate
    for router in (channels.router, shopify.router, operators.router, tracking.router, desk.router):
        app.include_router(router)
    desk.install(app)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return exc.response()

    app.add_middleware(Measured)
    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """The request bodies the endpoints read themselves (they check the signature over the raw bytes first) are
    documented from the same pydantic contracts that validate them."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        models: list[type[Message]] = [OrderSubmitted, PromiseRequested, *channels.ACTIONS.values()]
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document
    app.openapi = openapi  # type: ignore[method-assign]
