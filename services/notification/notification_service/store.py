"""The notification service's unit of work: contacts, notifications, and the notifications to send."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from notification_service import domain
from notification_service.bootstrap import NotificationDeps
from runtime.repository import Columns, Records, Rows
from runtime.retries import Sends, sendable
from runtime.tables import Database, Table, by
from runtime.unit import UnitOfWork

CONTACTS = Table("contacts", ("order_key",), {"order_key": "text", "email": "text", "phone": "text", "name": "text",
                                              "sms_consent": "bool"})
NOTIFICATIONS = Table("notifications", ("notification_id",), {
    "notification_id": "text", "order_id": "text", "kind": "text", "shipment_id": "text", "medium": "text",
    "recipient": "text", "subject": "text", "body": "text"}, reads=("notification_id",),
    unique=(("order_id", "kind", "shipment_id", "medium"),))

@dataclass(slots=True)
class Contact(Columns):
    """Whom an order's notices go to (by the channel's `channel:external_id`)."""

    order_key: str
    email: str
    phone: str | None
    name: str
    sms_consent: bool = False

    def texts_to(self) -> str | None:
        """The number text messages go to: the phone in E.164, if the customer gave one and consented."""
        return domain.e164(self.phone) if self.sms_consent else None


WHOLE = dataclasses.replace(NOTIFICATIONS, reads=tuple(NOTIFICATIONS.columns))
OUTGOING = sendable(NOTIFICATIONS, ("order_id", "kind", "shipment_id", "medium", "recipient", "subject", "body"))


def notification_id(order_id: str, kind: str, shipment_id: str, medium: str = "email") -> str:
    """One notification per order, kind, shipment and medium, whatever event asked for it (an e-mail's id is what
    it was before text messages came)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}/{kind}/{shipment_id}" + (
        "" if medium == "email" else f"/{medium}")))


def resent_id(notification_id: str, request_id: str) -> str:
    """The copy a resend request makes of a notification: one per request, however often it is read."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notification_id}/resent/{request_id}"))


def order_key(message: Message) -> str:
    if isinstance(message, OrderSubmitted | OrderStatusChanged):
        return f"{message.channel}:{message.external_id}"
    raise TypeError(f"{message.type} names no order")


class NotificationWork(UnitOfWork):
    """Contacts and notifications are only ever added: read once without locks at the start (a row another
    transaction adds meanwhile fails this unit's insert, and the batch runs again), written once at the end."""

    deps: NotificationDeps

    def __init__(self, deps: NotificationDeps, db: Database) -> None:
        super().__init__(deps, db)
        self.contacts = self.repository(Records(db, CONTACTS, Contact))
        self.notifications = self.repository(Rows(db, NOTIFICATIONS))
        self.notices: dict[str, list[domain.Notice]] = {}  # by event id, worked out once
        self.outgoing_notifications = self.repository(Sends(db, OUTGOING))

    async def prepare(self, messages: Sequence[Message]) -> None:
        keys = [(order_key(m),) for m in messages if isinstance(m, OrderSubmitted | OrderStatusChanged)]
        await self.contacts.load(by("order_key", [k for k, in keys]), keys=keys, lock=False)
        self.notices = {m.id: domain.notices(m) for m in messages if isinstance(m, OrderStatusChanged)}
        ids = [(notification_id(m.order_id, n.kind, n.shipment_id, medium),)
               for m in messages if isinstance(m, OrderStatusChanged) for n in self.notices[m.id]
               for medium in self._mediums(m)]
        if ids:
            await self.notifications.load(by("notification_id", [i for i, in ids]), keys=ids, lock=False)

    def _mediums(self, event: OrderStatusChanged) -> tuple[str, ...]:
        """What an event's notices may go by: e-mail, and text where the customer agreed (only those are read)."""
        contact = self.contacts.cached(f"{event.channel}:{event.external_id}")
        return ("email", "sms") if contact is not None and contact.texts_to() else ("email",)

    def add_contact(self, key: str, email: str, phone: str | None, name: str, sms_consent: bool = False) -> None:
        self.contacts.add(Contact(order_key=key, email=email, phone=phone, name=name, sms_consent=sms_consent))

    async def original(self, notification_id: str) -> NotificationRequested | None:
        """A notification as it was asked for (every column), for a resend."""
        found = await self.db.read(WHOLE, by("notification_id", [notification_id]), lock=False)
        if not found:
            return None
        row = found[0]
        return NotificationRequested(
            id=row["notification_id"], order_id=row["order_id"], kind=row["kind"], medium=row["medium"],
            recipient=row["recipient"], shipment_id=row["shipment_id"].split("#resent:")[0] or None,
            subject=row["subject"], body=row["body"])

    def add_notification(self, requested: NotificationRequested, copy_of: str | None = None) -> bool:
        """False if this order, kind, shipment and medium was notified before (`copy_of`: a resend, its request's
        id, which keeps the copy apart from the original)."""
        return self.notifications.add({
            "notification_id": requested.id, "order_id": requested.order_id, "kind": requested.kind,
            "shipment_id": (requested.shipment_id or "") + (f"#resent:{copy_of}" if copy_of else ""),
            "medium": requested.medium, "recipient": requested.recipient,
            "subject": requested.subject, "body": requested.body})
