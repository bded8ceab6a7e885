"""The record of every message sent to a customer or an operator (public, v1)."""

from __future__ import annotations

from typing import Literal

from contracts.base import Message, NonEmpty


class NotificationRequested(Message):
    type: Literal["notification.requested"] = "notification.requested"
    order_id: NonEmpty
    kind: NonEmpty
    medium: Literal["email", "sms", "webhook"]
    recipient: NonEmpty
    shipment_id: str | None = None
    subject: str
    body: str
