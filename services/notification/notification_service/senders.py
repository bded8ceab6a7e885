"""Where notifications go: e-mail to a local file (default), the log, SMTP or a webhook, chosen by
OMS_NOTIFY_SENDER; text messages to a provider's webhook (OMS_SMS_URL) or a local file."""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import orjson

from contracts.base import EMAIL_PATTERN
from notification_service.domain import E164
from runtime import signing
from runtime.logging import log


class Sender(Protocol):
    async def send(self, notification: dict[str, str]) -> None: ...


class Undeliverable(Exception):
    """This notification can never be delivered as it is (a refused or malformed address): no retry helps."""


ONE_ADDRESS = re.compile(EMAIL_PATTERN)  # the contract's own rule for a customer's address


def checked(notification: dict[str, str]) -> dict[str, str]:
    """Exactly one plain address, and no line break in anything that becomes a header (no header injection)."""
    if not ONE_ADDRESS.fullmatch(notification["recipient"]):  # fullmatch: a final newline is refused too
        raise Undeliverable("the recipient is not one plain e-mail address")
    if any(ch in notification["subject"] for ch in "\r\n\x00"):
        raise Undeliverable("the subject holds a line break")
    return notification


def permanent(exc: BaseException) -> bool:
    """A failure that will be the same next time: a refused address or message (SMTP 5xx), a webhook that
    answers 4xx (other than 408 and 429)."""
    if isinstance(exc, Undeliverable | smtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    if isinstance(exc, urllib.error.HTTPError):
        return 400 <= exc.code < 500 and exc.code not in (408, 429)
    return False


class FileSender:
    """Appends each notification as a JSON line: the local stand-in for a mail gateway.

    Like a gateway that takes an idempotency key, it drops a notification id it has already taken, so a dispatcher
    that crashed between sending and recording it does not make the customer read it twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # customers' mail: its owner's only
        self.taken = {orjson.loads(line)["notification_id"] for line in path.read_bytes().splitlines() if line} \
            if path.exists() else set()

    async def send(self, notification: dict[str, str]) -> None:
        if notification["notification_id"] in self.taken:
            return
        with self.path.open("ab") as fh:
            fh.write(orjson.dumps(notification) + b"\n")
        self.taken.add(notification["notification_id"])


class LogSender:
    async def send(self, notification: dict[str, str]) -> None:
        log.info("notification.sent", order_id=notification["order_id"], kind=notification["kind"])


class SmtpSender:
    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    async def send(self, notification: dict[str, str]) -> None:
        checked(notification)
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, notification["recipient"], notification["subject"]
        mail.set_content(notification["body"])
        await asyncio.to_thread(self._deliver, mail)

    def _deliver(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(mail)


class WebhookSender:
    def __init__(self, url: str) -> None:
        self.url = url

    async def send(self, notification: dict[str, str]) -> None:
        checked(notification)
        # the notification id as an idempotency key: a receiver drops a copy re-sent after a crash before marking
        request = urllib.request.Request(self.url, data=orjson.dumps(notification), method="POST", headers={
            "content-type": "application/json", "idempotency-key": notification["notification_id"]})
        await asyncio.to_thread(self._post, request)

    @staticmethod
    def _post(request: urllib.request.Request) -> None:
        with urllib.request.urlopen(request, timeout=10):
            pass


class SmsWebhookSender:
    """Text messages to a provider's webhook: the message as JSON, signed as the gateway's own requests are
    (`X-OMS-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>">` with `OMS_SMS_SECRET`), the notification
    id as an idempotency key."""

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    async def send(self, notification: dict[str, str]) -> None:
        if not E164.fullmatch(notification["recipient"]):
            raise Undeliverable("the recipient is not an E.164 number")
        body = orjson.dumps({key: notification[key] for key in ("notification_id", "order_id", "kind", "recipient",
                                                                "body")})
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "content-type": "application/json", "idempotency-key": notification["notification_id"],
            signing.HEADER: signing.sign(self.secret, body)})
        await asyncio.to_thread(WebhookSender._post, request)


class ByMedium:
    """Each notification through the sender of its medium."""

    def __init__(self, senders: dict[str, Sender]) -> None:
        self.senders = senders

    async def send(self, notification: dict[str, str]) -> None:
        sender = self.senders.get(notification["medium"])
        if sender is None:
            raise Undeliverable(f"no sender of {notification['medium']}")
        await sender.send(notification)


def senders_from_env(home: Path) -> Sender:
    """E-mail as `OMS_NOTIFY_SENDER` says; text messages to `OMS_SMS_URL` (signed with `OMS_SMS_SECRET`), or to a
    local file beside the mail (`OMS_SMS_FILE`)."""
    url, secret = os.environ.get("OMS_SMS_URL"), os.environ.get("OMS_SMS_SECRET")
    if url and not secret:
        raise ValueError("OMS_SMS_URL is set without OMS_SMS_SECRET: text messages are signed with it")
    sms: Sender = SmsWebhookSender(url, secret) if url and secret else FileSender(
        Path(os.environ.get("OMS_SMS_FILE", str(home / "notifications" / "sms.jsonl"))))
    return ByMedium({"email": sender_from_env(home), "sms": sms})


def sender_from_env(home: Path) -> Sender:
    kind = os.environ.get("OMS_NOTIFY_SENDER", "file")
    if kind == "log":
        return LogSender()
    if kind == "smtp":
        return SmtpSender(os.environ.get("OMS_SMTP_HOST", "127.0.0.1"), int(os.environ.get("OMS_SMTP_PORT", "25")),
                          os.environ.get("OMS_SMTP_FROM", "orders@example.com"))
    if kind == "webhook":
        return WebhookSender(os.environ["OMS_WEBHOOK_URL"])
    return FileSender(Path(os.environ.get("OMS_NOTIFY_FILE", str(home / "notifications" / "sent.jsonl"))))
