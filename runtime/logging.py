"""structlog JSON logging: order id, message id and type bound per message; customer data redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset({
    "email", "phone", "address", "shipping_address", "ship_to", "ship_from", "recipient", "customer",
    "line1", "line2", "postal_code", "body", "password", "dsn",
})
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PHONE = re.compile(r"\+\d[\d \-]{7,}\d")


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return PHONE.sub("[phone]", EMAIL.sub("[email]", value))
    if isinstance(value, dict):
        return {k: "[redacted]" if k in SENSITIVE_KEYS else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never let an email, phone number or address reach a log line."""
    for key in list(event):
        if key in ("timestamp", "level", "event"):
            continue
        event[key] = "[redacted]" if key in SENSITIVE_KEYS else redact_value(event[key])
    return event


# The message being handled: its Kafka record, and the parsed message once known. Setting it is one ContextVar
# write per message; its fields are only read when a line is actually logged.
handling: ContextVar[tuple[Any, Any] | None] = ContextVar("log_handling", default=None)


def add_handling(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Topic, partition, offset, message id, type and order id of the message being handled."""
    current = handling.get()
    if current is None:
        return event
    record, message = current
    event.setdefault("topic", record.topic)
    event.setdefault("partition", record.partition)
    event.setdefault("offset", record.offset)
    if message is not None:
        event.setdefault("message_id", message.id)
        event.setdefault("type", message.type)
        event.setdefault("order_id", getattr(message, "order_id", None))
    else:
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        event.setdefault("message_id", headers.get("ce_id"))
        event.setdefault("type", headers.get("ce_type"))
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    for noisy in ("aiokafka", "faststream", "kafka", "httpx", "httpcore", "uvicorn"):  # their own lines, per request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_handling,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


log = structlog.get_logger()
