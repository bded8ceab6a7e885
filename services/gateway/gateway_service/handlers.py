"""The gateway's consumers: order events into the read model, and whom each order is for (hashed)."""

from __future__ import annotations

from collections.abc import Callable

from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from gateway_service.store import GatewayWork
from gateway_service.subscribers import Subscriber
from shared.consume import NotReady
from shared.service import Deps
from shared.signing import tracking_token
from shared.uow import Handler


async def order_event(event: OrderStatusChanged, uow: GatewayWork) -> None:
    uow.project(event, tracking_token(uow.secret, event.order_id))
    uow.deliver(event, event.channel)


async def notification(msg: NotificationRequested, uow: GatewayWork) -> None:
    """To the subscribers of notifications; one that hears of some channels only waits for the order's view."""
    view = uow.views.cached(msg.order_id)
    if view is None and any(s.channels and msg.type in s.events for s in uow.subscribers):
        raise NotReady(f"the channel of {msg.order_id} is not known yet")
    uow.deliver(msg, view["channel"] if view else None)


def tells_no_subscriber(deps: Deps) -> Callable[[Message], bool]:
    """Messages no subscriber wants are acknowledged without a transaction."""
    def ignored(message: Message) -> bool:
        subscribers: list[Subscriber] = deps.extra.get("subscribers", [])  # type: ignore[assignment]
        return not any(message.type in s.events for s in subscribers)
    return ignored


async def remember_contact(msg: OrderSubmitted, uow: GatewayWork) -> None:
    uow.remember_contact(msg)


def from_channel(channel: str) -> dict[str, Handler[GatewayWork]]:
    """One channel's own topic: a submission naming another channel is not the order of anyone it names."""
    async def remember_own(msg: OrderSubmitted, uow: GatewayWork) -> None:
        if msg.channel == channel:
            uow.remember_contact(msg)
    return {"order.submitted": remember_own}


EVENTS: dict[str, Handler[GatewayWork]] = {"order.status_changed": order_event}
NOTIFICATIONS: dict[str, Handler[GatewayWork]] = {"notification.requested": notification}
INBOUND: dict[str, Handler[GatewayWork]] = {"order.submitted": remember_contact}
