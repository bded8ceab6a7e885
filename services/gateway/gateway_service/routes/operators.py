"""Operators, with their API token: a customer's orders, dead webhook deliveries sent again, the metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway_service.checks import GateOf, Refused, operator
from gateway_service.routes.channels import public
from runtime.logging import log

router = APIRouter(tags=["operators"], dependencies=[Depends(operator)])


@router.get("/v1/orders", summary="Operators: a customer's orders by e-mail or phone")
async def find_orders(gate: GateOf, email: str | None = None, phone: str | None = None) -> JSONResponse:
    if not email and not phone:
        raise Refused(400, "give email or phone")
    found = await gate.reads.search(email, phone)
    return JSONResponse({"orders": [public(v) for v in found]})


@router.post("/v1/webhooks/retry", summary="Operators: post dead webhook deliveries again")
async def retry_webhooks(gate: GateOf, subscriber: str | None = None) -> JSONResponse:
    retried = await gate.reads.retry_dead(subscriber)
    log.warning("gateway.webhooks_retried", subscriber=subscriber, deliveries=retried)
    return JSONResponse({"retried": retried})


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:  # Prometheus scrapes the service's own metrics port; this is for operators
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
