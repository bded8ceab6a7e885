"""Building blocks every message shares: the envelope, addresses, money and quantities."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

Quantity = Annotated[int, Field(gt=0, strict=True, description="A positive whole number of units.")]
Money = Annotated[str, Field(pattern=r"^-?\d+(\.\d{1,4})?$", description="A decimal amount as a string.")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")]
def _iso_text(value: Any) -> Any:
    """Times travel as ISO-8601 text with a zone; a bare number is refused rather than read as epoch seconds."""
    if isinstance(value, int | float):
        raise ValueError("a time must be ISO-8601 text with a zone")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
NonEmpty = Annotated[str, Field(min_length=1)]


def new_id() -> str:
    """A UUIDv7 (RFC 9562): the millisecond first, then 74 random bits. Ids made later sort later, so the inbox that
    indexes every message id it handled grows at one end instead of splitting pages all over its index (a random id
    writes a whole page image to the WAL for most inserts into a large inbox)."""
    rand = int.from_bytes(os.urandom(10), "big")
    return str(uuid.UUID(int=(time.time_ns() // 1_000_000 & (1 << 48) - 1) << 80 | 0x7 << 76
                         | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1))


def utcnow() -> datetime:
    return datetime.now(UTC)


def _type_and_id_required(schema: dict[str, Any]) -> None:
    """On the wire `type` and `id` are required; in code they default (type fixed, id new)."""
    schema["required"] = ["type", "id", *[f for f in schema.get("required", []) if f not in ("type", "id")]]


class Message(BaseModel):
    """Every message: a stable `type` and an `id` that retries of the same message keep."""

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_type_and_id_required)

    type: str
    id: NonEmpty = Field(default_factory=new_id)


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: NonEmpty
    line1: NonEmpty
    line2: str | None = None
    city: NonEmpty
    region: str | None = None
    postal_code: NonEmpty
    country: CountryCode


class SkuQuantity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
