"""Signed webhooks, both ways: `X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, and
Shopify's `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

HEADER = "X-OMS-Signature"
WINDOW_S = 300  # a signature older (or further ahead) than this is stale: a captured request cannot be replayed later


class BadSignature(Exception):
    """Why a request's signature is not accepted, in one line (told to the sender: it names no secret)."""


def sign(secret: str, body: bytes, at: float | None = None) -> str:
    """The header value for `body`, signed at `at` (now by default)."""
    t = int(time.time() if at is None else at)
    return f"t={t},v1={_hmac(secret, str(t).encode() + b'.' + body).hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None, window_s: int = WINDOW_S) -> str:
    """The verified digest (lower-case hex) of a valid signature: what a replay of the same request, however its
    header is spelled, has too. `BadSignature` for a missing, malformed, wrong or stale one."""
    stamp, given = parse(header)
    expected = _hmac(secret, str(stamp).encode() + b"." + body).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise BadSignature("signature does not match the body")
    if abs((time.time() if now is None else now) - stamp) > window_s:
        raise BadSignature(f"signature is stale: signed more than {window_s // 60} minutes from now")
    return expected


_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse(header: str | None) -> tuple[int, list[str]]:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>]`, strictly: ASCII, one `t`, every `v1` 64 hex digits, nothing else."""
    if not header:
        raise BadSignature(f"missing {HEADER} header")
    malformed = BadSignature(f"malformed {HEADER}: expected t=<unix seconds>,v1=<64 hex digits>")
    if not header.isascii() or len(header) > 1000:
        raise malformed
    stamp: int | None = None
    given: list[str] = []
    for item in header.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep:
            raise malformed
        if key == "t" and stamp is None and value.isdigit() and len(value) <= 12:
            stamp = int(value)
        elif key == "v1" and _HEX64.fullmatch(value.lower()):
            given.append(value.lower())
        else:
            raise malformed
    if stamp is None or not given:
        raise malformed
    return stamp, given


def shopify_sign(secret: str, body: bytes) -> str:
    return base64.b64encode(_hmac(secret, body).digest()).decode()


def shopify_verify(secret: str, header: str | None, body: bytes) -> str:
    """The verified digest (hex) of a valid `X-Shopify-Hmac-Sha256`: it covers the body, so a delivery replayed under
    another webhook id has the same one."""
    if not header:
        raise BadSignature("missing X-Shopify-Hmac-Sha256 header")
    try:
        given = base64.b64decode(header.strip().encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadSignature("malformed X-Shopify-Hmac-Sha256: expected base64") from exc
    expected = _hmac(secret, body).digest()
    if not hmac.compare_digest(expected, given):
        raise BadSignature("X-Shopify-Hmac-Sha256 does not match the body")
    return expected.hex()


def tracking_token(secret: str, order_id: str) -> str:
    """The token of an order's tracking page: cannot be made, nor the order's id read, without the secret."""
    return base64.urlsafe_b64encode(_hmac(secret, b"track:" + order_id.encode()).digest()[:18]).decode()


def _hmac(secret: str, data: bytes) -> hmac.HMAC:
    return hmac.new(secret.encode(), data, hashlib.sha256)
