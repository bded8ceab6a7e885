"""Outgoing webhooks: who subscribes to what (`config/webhooks.toml`, or `OMS_WEBHOOKS_FILE`), and each delivery
signed as the gateway's incoming requests are (`X-OMS-Signature`, with the subscriber's own secret)."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

EVENTS = ("order.status_changed", "notification.requested")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DELIVERIES = uuid.UUID("8e5b3c1a-6d0f-4a7e-b2c9-1f4d6a8b0c2e")


class Subscriber(BaseModel):
    """One receiver: its URL (https, except on this machine's loopback), the events it wants, and the channels
    whose orders it hears of (all when empty)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    url: str
    events: list[str] = list(EVENTS)
    channels: list[str] = []

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
            return url
        raise ValueError(f"{url!r}: a webhook goes over https (plain http only to 127.0.0.1 or localhost)")

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ValueError(f"no event {', '.join(unknown)}: one of {', '.join(EVENTS)}")
        return events

    def wants(self, kind: str, channel: str | None) -> bool:
        return kind in self.events and (not self.channels or channel in self.channels)


def load_subscribers(path: Path) -> list[Subscriber]:
    """The subscribers of the file (none when there is no file)."""
    if not path.exists():
        return []
    found = [Subscriber.model_validate(s) for s in tomllib.loads(path.read_text()).get("subscriber", [])]
    ids = [s.id for s in found]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: a subscriber id appears twice")
    return found


def delivery_id(subscriber: str, message_id: str) -> str:
    """One delivery per subscriber and message, however often the message is read."""
    return str(uuid.uuid5(DELIVERIES, f"{subscriber}/{message_id}"))
