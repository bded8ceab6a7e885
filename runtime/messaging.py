"""Wire format: JSON bodies via orjson, CloudEvents binary-mode headers and W3C traceparent."""

from __future__ import annotations

import contextvars
import secrets
from datetime import UTC, datetime

import orjson
from pydantic import ValidationError

from contracts.base import Message
from contracts.topics import Topic

# The trace of the message being handled, so what it causes continues the same trace.
current_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_trace", default=None)
# With tracing on (runtime/tracing.py): the span of the message being handled, the parent of what it causes.
current_span: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_span", default=None)


class InvalidMessage(Exception):
    """The bytes are not a message this topic carries; `reason` says why in one line."""

    def __init__(self, reason: str, body: dict[str, object] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body or {}
        self.topic: str | None = None  # where it was read (set by the consume policy)


def encode(message: Message) -> bytes:
    return message.__pydantic_serializer__.to_json(message)  # straight to JSON bytes: half the time of a dict first


def traceparent() -> str:
    """The span of the message being handled (tracing on), else a child span of the current trace, or a new trace
    when there is none."""
    if span := current_span.get():
        return span
    parent = current_trace.get()
    trace_id = parent.split("-")[1] if parent and parent.count("-") == 3 else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def cloudevent_headers(message: Message, source: str, trace: str | None = None) -> dict[str, str]:
    """`trace`: the traceparent of what caused the message, taken when it was caused (else the current one)."""
    return {
        "ce_specversion": "1.0",
        "ce_id": message.id,
        "ce_type": message.type,
        "ce_source": f"oms/{source}",
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
        "traceparent": trace or traceparent(),
    }


def parse(raw: bytes | None, topic: Topic) -> Message:
    """Bytes to the topic's message model, or InvalidMessage with a readable reason."""
    try:
        body = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidMessage("not a JSON object")
    kind = body.get("type")
    model = topic.message_types.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidMessage(f"unknown type {kind!r} for {topic.name}", body)
    if not isinstance(body.get("id"), str) or not body["id"]:
        raise InvalidMessage(f"invalid {kind}: id: Field required", body)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid {kind}: {'; '.join(problems(exc))}", body) from None


def problems(exc: ValidationError) -> list[str]:
    """Each thing wrong with a message, as `field.path: what is wrong`."""
    return [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
