"""Channels: orders and the requests on them, signed; an order's state with the channel's token."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from contracts.base import Message, new_id
from contracts.channels import (
    OrderCancelRequested,
    OrderChangeRequested,
    OrderReturnRequested,
    OrderSubmitted,
    order_id_for,
)
from contracts.promises import PromiseRequested
from gateway_service import shopify
from gateway_service.checks import GateOf, Refused, Signed, channel_reader, oms_signed
from gateway_service.edge import Gate, Unavailable
from runtime.logging import log
from runtime.messaging import problems

ACTIONS: dict[str, type[Message]] = {"cancel": OrderCancelRequested, "return": OrderReturnRequested,
                                     "change": OrderChangeRequested}
GATEWAY_IDS = uuid.UUID("3b0f6b52-7f0e-4f55-9d0b-2a3c5f1e9a11")

router = APIRouter(prefix="/v1/channels/{channel}", tags=["channels"])


async def accept(gate: Gate, signed: Signed, model: type[Message], path_ids: dict[str, str] | None = None,
                 mapped: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> JSONResponse:
    """A signed body as the message `model`, published to the channel's topic as the channel; 202 with the order's
    id once the broker has it. The message id is derived from the request, so a retry is the same message."""
    channel = signed.channel
    try:
        body = orjson.loads(signed.raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "not valid JSON", [str(exc)]) from exc
    try:
        body = mapped(body) if mapped else body
    except shopify.NotMappable as exc:
        raise Refused(400, "not an order the OMS can take", exc.reasons) from exc
    if not isinstance(body, dict):
        raise Refused(400, "not a JSON object")
    expected = model.model_fields["type"].default
    body.setdefault("type", expected)
    body.setdefault("id", str(uuid.uuid5(GATEWAY_IDS, signed.replay_key)))
    for name, value in {"channel": channel, **(path_ids or {})}.items():
        body.setdefault(name, value)
        if body[name] != value:
            raise Refused(403 if name == "channel" else 400, f"{name} {body[name]!r} in the body is not the "
                          f"{name} of the URL ({value!r}): a channel sends only its own orders")
    if body["type"] != expected:
        raise Refused(400, f"type {body['type']!r} is not {expected!r} (what this URL takes)")
    try:
        message = model.model_validate(body)
    except ValidationError as exc:
        raise Refused(400, f"invalid {expected}", problems(exc)) from exc
    external_id = str(body["external_id"])
    try:
        await gate.publish(channel, f"{channel}:{external_id}", message)
    except Unavailable as exc:
        log.warning("gateway.unavailable", channel=channel, error=str(exc))
        raise Refused(503, "the OMS cannot take it now: send it again", headers={"Retry-After": "5"}) from exc
    answer = {"order_id": order_id_for(channel, external_id), "message_id": message.id, "type": expected}
    await gate.replays.remember(signed.replay_key, answer, signed.keep_s)
    log.info("gateway.accepted", channel=channel, type=expected, order_id=answer["order_id"])
    return JSONResponse(answer, 202)


def body_of(model: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (the signature is checked over the bytes)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model}"}}}}}


@router.post("/orders", status_code=202, openapi_extra=body_of("OrderSubmitted"),
             summary="Submit an order (order.submitted)")
async def submit(gate: GateOf, signed: Annotated[Signed, Depends(oms_signed)]) -> JSONResponse:
    return await accept(gate, signed, OrderSubmitted)


@router.post("/orders/{external_id}/{action}", status_code=202,
             summary="Cancel (all or some lines), return, or change an order")
async def act(external_id: str, action: str, gate: GateOf,
              signed: Annotated[Signed, Depends(oms_signed)]) -> JSONResponse:
    model = ACTIONS.get(action)
    if model is None:
        raise Refused(404, f"no action {action!r}: one of {', '.join(ACTIONS)}")
    return await accept(gate, signed, model, {"external_id": external_id})


@router.post("/promises", openapi_extra=body_of("PromiseRequested"),
             summary="What the OMS would promise for a basket (promise.requested): options, each a quote")
async def promises(gate: GateOf, signed: Annotated[Signed, Depends(oms_signed)]) -> JSONResponse:
    """The request goes to the channel's topic as any message of the channel; the answer is the `promise.quoted`
    the OMS publishes for it (also on the channel's events topic), within `quote_timeout_s`."""
    channel = signed.channel
    try:
        body = orjson.loads(signed.raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "not valid JSON", [str(exc)]) from exc
    if not isinstance(body, dict):
        raise Refused(400, "not a JSON object")
    body = {"type": "promise.requested", "id": new_id(), "channel": channel, **body}
    if body["channel"] != channel:
        raise Refused(403, f"channel {body['channel']!r} in the body is not the channel of the URL ({channel!r})")
    try:
        request = PromiseRequested.model_validate(body)
    except ValidationError as exc:
        raise Refused(400, "invalid promise.requested", problems(exc)) from exc
    answer = gate.quotes.expect(request.id)
    try:
        await gate.publish(channel, request.order_key, request)
        return JSONResponse(await asyncio.wait_for(answer, gate.quote_timeout_s))
    except Unavailable as exc:
        raise Refused(503, "the OMS cannot take it now: send it again", headers={"Retry-After": "5"}) from exc
    except TimeoutError as exc:
        log.warning("gateway.quote_late", channel=channel)
        raise Refused(504, f"no quote within {gate.quote_timeout_s:g} s: ask again", headers={"Retry-After": "5"}) \
            from exc
    finally:
        gate.quotes.forget(request.id)


@router.get("/orders/{external_id}", summary="An order of this channel: status, shipments with tracking, returns, "
                                             "timeline")
async def get_order(external_id: str, gate: GateOf,
                    channel: Annotated[str, Depends(channel_reader)]) -> JSONResponse:
    view = await gate.reads.order(channel, external_id)
    if view is None:
        raise Refused(404, f"no order {external_id!r} of {channel!r} (or not seen yet)")
    return JSONResponse(public(view))


def public(view: dict[str, Any]) -> dict[str, Any]:
    """An order as the API shows it (times as ISO text; never its tracking token: that is the customer's)."""
    found: dict[str, Any] = orjson.loads(orjson.dumps({k: v for k, v in view.items() if k != "tracking_token"}))
    return found
