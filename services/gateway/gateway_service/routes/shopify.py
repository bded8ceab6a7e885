"""Shopify's `orders/create` webhook, taken as Shopify sends it and mapped to `order.submitted`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from contracts.channels import OrderSubmitted
from gateway_service import shopify
from gateway_service.checks import GateOf, Signed, shopify_signed
from gateway_service.routes.channels import accept

router = APIRouter(prefix="/v1/channels/{channel}/shopify", tags=["channels"])


@router.post("/orders", status_code=202,
             summary="A Shopify orders/create webhook, as Shopify sends it (X-Shopify-Hmac-Sha256)")
async def shopify_order(channel: str, gate: GateOf,
                        signed: Annotated[Signed, Depends(shopify_signed)]) -> JSONResponse:
    return await accept(gate, signed, OrderSubmitted, mapped=lambda order: shopify.to_submitted(order, channel))
