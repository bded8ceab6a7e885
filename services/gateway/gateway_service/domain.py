"""The read model's pure rules: how a customer's contact is kept (a keyed hash, never the address itself), and JSON
as the database keeps it."""

from __future__ import annotations

import hashlib
import hmac


def contact_hash(secret: str, value: str) -> str:
    """A keyed hash of an e-mail address or phone number, as written or searched (case and spaces do not count)."""
    normal = "".join(value.split()).lower()
    return hmac.new(secret.encode(), b"contact:" + normal.encode(), hashlib.sha256).hexdigest()


def jsonb(raw: bytes) -> str:
    """JSON as PostgreSQL's jsonb takes it: a NUL a rejected message carried is kept as the text `\\x00`."""
    return raw.decode().replace("\\u0000", "\\\\x00")
