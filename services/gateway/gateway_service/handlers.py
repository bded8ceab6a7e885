"""The gateway's consumers: order events into the read model, and whom each order is for (hashed)."""

from __future__ import annotations

from contracts.channels import OrderSubmitted
from contracts.order import OrderStatusChanged
from gateway_service.store import GatewayWork
from shared.signing import tracking_token
from shared.uow import Handler


async def order_event(event: OrderStatusChanged, uow: GatewayWork) -> None:
    uow.project(event, tracking_token(uow.secret, event.order_id))


async def remember_contact(msg: OrderSubmitted, uow: GatewayWork) -> None:
    uow.remember_contact(msg)


def from_channel(channel: str) -> dict[str, Handler[GatewayWork]]:
    """One channel's own topic: a submission naming another channel is not the order of anyone it names."""
    async def remember_own(msg: OrderSubmitted, uow: GatewayWork) -> None:
        if msg.channel == channel:
            uow.remember_contact(msg)
    return {"order.submitted": remember_own}


EVENTS: dict[str, Handler[GatewayWork]] = {"order.status_changed": order_event}
INBOUND: dict[str, Handler[GatewayWork]] = {"order.submitted": remember_contact}
