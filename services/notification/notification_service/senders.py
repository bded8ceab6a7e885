"""Where notifications go: a local file (default), the log, SMTP or a webhook, chosen by OMS_NOTIFY_SENDER."""

from __future__ import annotations

import asyncio
import os
import smtplib
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import orjson

from shared.logging import log


class Sender(Protocol):
    async def send(self, notification: dict[str, str]) -> None: ...


class FileSender:
    """Appends each notification as a JSON line: the local stand-in for a mail gateway.

    Like a gateway that takes an idempotency key, it drops a notification id it has already taken, so a dispatcher
    that crashed between sending and recording it does not make the customer read it twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
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
        request = urllib.request.Request(self.url, data=orjson.dumps(notification),
                                         headers={"content-type": "application/json"}, method="POST")
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)


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
