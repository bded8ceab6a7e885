"""Which notifications an order event calls for, and their wording. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.order import OrderStatusChanged
from rules.network import Network

STATUS_KINDS = {"accepted": "confirmation", "backordered": "backordered", "on_hold": "on_hold",
                "cancelled": "cancelled", "rejected": "rejected", "ready_for_pickup": "ready_for_pickup"}
OPERATOR_REASONS = {"no_carrier", "delivery_exception", "step_timed_out", "late_to_ship", "late_delivery"}
LATE = {"late_to_ship", "late_delivery"}


@dataclass(frozen=True)
class Notice:
    kind: str
    shipment_id: str
    subject: str
    body: str
    to_operators: bool = False


def notices(event: OrderStatusChanged) -> list[Notice]:
    """Everything the event asks to tell; the store keeps each (order, kind, shipment) to one."""
    ref = event.external_id
    found: list[Notice] = []
    kind = STATUS_KINDS.get(event.status)
    if kind and event.status != event.previous_status:
        why = f" ({event.reason.message})" if event.reason else ""
        found.append(Notice(kind, "", SUBJECTS[kind].format(ref=ref),
                            f"Order {ref} is {event.status.replace('_', ' ')}{why}."))
    for shipment in event.shipments:
        if shipment.status in ("shipped", "delivered"):
            tracking = f" with {shipment.carrier_id}, tracking number {shipment.tracking_number}"
            found.append(Notice("shipped", shipment.shipment_id, SUBJECTS["shipped"].format(ref=ref),
                                f"Part of order {ref} has left {shipment.location_id}{tracking}."))
        if shipment.status == "delivered" and not shipment.to_store:  # at the store: the pickup notice tells
            found.append(Notice("delivered", shipment.shipment_id, SUBJECTS["delivered"].format(ref=ref),
                                f"A parcel of order {ref} was delivered ({shipment.carrier_id})."))
    for returned in event.returns:
        if returned.status == "received":
            units = sum(line.quantity for line in returned.received)
            found.append(Notice("return_received", returned.return_id, SUBJECTS["return_received"].format(ref=ref),
                                f"We received {units} item(s) of order {ref} back at {returned.location_id}; "
                                "your refund is on its way."))
    if event.reason and event.reason.code == "lines_cancelled" and event.status != "cancelled":
        found.append(Notice("lines_cancelled", f"seq-{event.sequence}", SUBJECTS["lines_cancelled"].format(ref=ref),
                            f"Order {ref}: {event.reason.message}; the rest is on its way."))
    if event.reason and event.reason.code == "return_refused":
        found.append(Notice("return_refused", f"seq-{event.sequence}", SUBJECTS["return_refused"].format(ref=ref),
                            f"We cannot take this return of order {ref}: {event.reason.message}."))
    if event.reason and event.reason.code == "pickup_reminder":
        found.append(Notice("pickup_reminder", "", SUBJECTS["pickup_reminder"].format(ref=ref),
                            f"Order {ref} is waiting for you: {event.reason.message}."))
    if event.reason and event.reason.code in LATE:  # one notice per order, however many promises it breaks
        found.append(Notice("delay", "", SUBJECTS["delay"].format(ref=ref),
                            f"Order {ref} is running late; we are on it and will tell you when it moves on."))
    if event.reason and event.reason.code == "eta_changed":  # once per change of date
        found.append(Notice("delay", f"seq-{event.sequence}", SUBJECTS["delay"].format(ref=ref),
                            f"Order {ref}: the items it waits for are {event.reason.message}. Sorry for the wait."))
    if event.reason and event.reason.code in OPERATOR_REASONS:
        found.append(Notice(f"operator_{event.reason.code}", f"seq-{event.sequence}", f"Order {ref} needs a person",
                            event.reason.message, to_operators=True))
    return found


E164 = re.compile(r"\+[1-9]\d{6,14}")


def e164(phone: str | None) -> str | None:
    """The number in E.164 (`+` and 7 to 15 digits; spaces, dots, dashes and brackets dropped), or None when it is
    not one: a text message goes to a number that can take it, or nowhere."""
    number = re.sub(r"[\s().-]", "", phone or "")
    return number if E164.fullmatch(number) else None


def text(notice: Notice, link: str) -> str:
    """A notice as a text message: its subject and the tracking link, short."""
    return f"{notice.subject}.{link}"


def opening_hours(event: OrderStatusChanged, network: Network) -> str:
    """For a ready-for-pickup notice: when the store is open, if the network file says."""
    if event.status != "ready_for_pickup" or event.status == event.previous_status:
        return ""
    stores = {s.location_id for s in event.shipments if s.pickup}
    hours = [loc.opening_hours for loc in network.locations if loc.id in stores and loc.opening_hours]
    return f" Opening hours: {hours[0]}." if hours else ""


SUBJECTS = {
    "confirmation": "We have your order {ref}",
    "backordered": "Order {ref}: some items are on their way to us",
    "on_hold": "Order {ref}: we need to check something",
    "cancelled": "Order {ref} is cancelled",
    "rejected": "We could not take order {ref}",
    "shipped": "Order {ref} is on its way",
    "delivered": "Order {ref} was delivered",
    "return_received": "Order {ref}: your return arrived",
    "lines_cancelled": "Order {ref}: part of it is cancelled",
    "return_refused": "Order {ref}: we could not take your return",
    "delay": "Order {ref} is running late",
    "ready_for_pickup": "Order {ref} is ready for pickup",
    "pickup_reminder": "Order {ref} is still waiting for you",
}
