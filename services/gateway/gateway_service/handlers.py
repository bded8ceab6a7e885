"""The gateway's consumers: order events into the read model, and whom each order is for (hashed)."""

from __future__ import annotations

from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from contracts.payments import PaymentCaptureRequested, RefundRequested
from gateway_service.store import GatewayWork
from runtime.consume import NotReady
from runtime.signing import tracking_token
from runtime.unit import Handler


async def order_event(event: OrderStatusChanged, unit: GatewayWork) -> None:
    unit.project(event, tracking_token(unit.secret, event.order_id))
    unit.deliver(event, event.channel)


async def notification(msg: NotificationRequested, unit: GatewayWork) -> None:
    """Shown at the desk, and to the subscribers of notifications; one that hears of some channels only waits for
    the order's view."""
    unit.notified_of(msg)
    view = unit.views.cached(msg.order_id)
    if view is None and any(s.channels and msg.type in s.events for s in unit.subscribers):
        raise NotReady(f"the channel of {msg.order_id} is not known yet")
    unit.deliver(msg, view.channel if view else None)


async def remember_contact(msg: OrderSubmitted, unit: GatewayWork) -> None:
    unit.remember_contact(msg)


def from_channel(channel: str) -> dict[str, Handler[GatewayWork]]:
    """One channel's own topic: a submission naming another channel is not the order of anyone it names."""
    async def remember_own(msg: OrderSubmitted, unit: GatewayWork) -> None:
        if msg.channel == channel:
            unit.remember_contact(msg)
    return {"order.submitted": remember_own}


async def payment_asked(msg: RefundRequested | PaymentCaptureRequested, unit: GatewayWork) -> None:
    unit.asked_payment(msg)


EVENTS: dict[str, Handler[GatewayWork]] = {"order.status_changed": order_event}
PAYMENTS: dict[str, Handler[GatewayWork]] = {"refund.requested": payment_asked,
                                             "payment.capture_requested": payment_asked}
NOTIFICATIONS: dict[str, Handler[GatewayWork]] = {"notification.requested": notification}
INBOUND: dict[str, Handler[GatewayWork]] = {"order.submitted": remember_contact}
