"""Building blocks every message shares: the envelope, addresses, money and quantities."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# Upper bounds on what comes in (docs/contract.md, "Bounds"): beyond them a message is invalid at once, before it can
# reach a database column, an index or a partner's request.
MAX_QUANTITY = 100_000
MAX_LINES = 200
MAX_ID_LENGTH = 256
MAX_NOTE_LENGTH = 1000
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"

Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY, strict=True,
                                description=f"A positive whole number of units, at most {MAX_QUANTITY}.")]
Money = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,4})?$", max_length=18,
                             description="A decimal amount as a string, never negative (up to 12 digits before the "
                                         "point, 4 after).")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")]
def _iso_text(value: Any) -> Any:
    """Times travel as ISO-8601 text with a zone; a bare number is refused rather than read as epoch seconds."""
    if isinstance(value, int | float):
        raise ValueError("a time must be ISO-8601 text with a zone")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_CONTROL_CHARACTERS,
                                description=f"Text of 1 to {MAX_ID_LENGTH} characters, no control characters.")]
OptionalText = Annotated[str, Field(max_length=MAX_ID_LENGTH, pattern=NO_CONTROL_CHARACTERS)]
Note = Annotated[str, Field(max_length=MAX_NOTE_LENGTH, pattern=r"^[^\x00]*$",
                            description=f"Free text of at most {MAX_NOTE_LENGTH} characters.")]
EMAIL_PATTERN = r"^[^\s@,;:<>()\[\]\"\\]+@[^\s@,;:<>()\[\]\"\\]+$"
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN,
                             description="One e-mail address: no spaces, commas or angle brackets.")]
Echoed = Annotated[str, Field(min_length=1, description="As the sender wrote it.")]


_RANDOM = bytearray()  # random bytes read from the OS a page at a time: ids are made by the thousand a second
_TAKING = threading.Lock()  # no two threads take the same bytes


def _random_bits(count: int = 10) -> int:
    with _TAKING:
        if len(_RANDOM) < count:
            _RANDOM[:] = os.urandom(4096)
        rand = int.from_bytes(_RANDOM[-count:], "big")
        del _RANDOM[-count:]
    return rand


def _forked() -> None:  # a forked process never repeats its parent's bytes (nor inherits a lock held at the fork)
    global _TAKING
    _TAKING = threading.Lock()
    _RANDOM.clear()


os.register_at_fork(after_in_child=_forked)


def new_id() -> str:
    """A UUIDv7 (RFC 9562): the millisecond first, then 74 random bits. Ids made later sort later, so the inbox that
    indexes every message id it handled grows at one end instead of splitting pages all over its index (a random id
    writes a whole page image to the WAL for most inserts into a large inbox)."""
    rand = _random_bits()
    h = "%032x" % ((time.time_ns() // 1_000_000 & (1 << 48) - 1) << 80 | 0x7 << 76
                   | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    line2: OptionalText | None = None
    city: NonEmpty
    region: OptionalText | None = None
    postal_code: NonEmpty
    country: CountryCode


class Window(BaseModel):
    """A span of time on the wire as {`from`, `to`} (v1.2): a delivery slot, or the one an order asks for."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    start: Timestamp = Field(alias="from")
    end: Timestamp = Field(alias="to")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Window:
        if self.end <= self.start:
            raise ValueError("a window's `to` comes after its `from`")
        return self


class SkuQuantity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity


def quantities(lines: Iterable[SkuQuantity]) -> dict[str, int]:
    """Units per SKU (lines of one SKU added up)."""
    found: dict[str, int] = {}
    for line in lines:
        found[line.sku] = found.get(line.sku, 0) + line.quantity
    return found


def minus(lines: list[SkuQuantity], taken: list[SkuQuantity]) -> list[SkuQuantity]:
    """`lines` less the units of `taken`, line by line (a line taken to nothing is gone)."""
    left = quantities(taken)
    kept = []
    for line in lines:
        n = min(line.quantity, left.get(line.sku, 0))
        left[line.sku] = left.get(line.sku, 0) - n
        if line.quantity > n:
            kept.append(SkuQuantity(sku=line.sku, quantity=line.quantity - n))
    return kept
