"""Signed webhooks, both ways: `X-OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, and
Shopify's `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

HEADER = "X-OMS-Signature"
WINDOW_S = 300  # a signature older (or further ahead) than this is stale: a captured request cannot be replayed later


class BadSignature(Exception):
    """Why a request's signature is not accepted, in one line (told to the sender: it names no secret)."""


def sign(secret: str, body: bytes, at: float | None = None) -> str:
    """The header value for `body`, signed at `at` (now by default)."""
    t = int(time.time() if at is None else at)
    return f"t={t},v1={_hmac(secret, str(t).encode() + b'.' + body).hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None, window_s: int = WINDOW_S) -> int:
    """The signing time of a valid signature; `BadSignature` for a missing, malformed, wrong or stale one."""
    if not header:
        raise BadSignature(f"missing {HEADER} header")
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), [v for k, v in parts.items() if k == "v1"]
    if not stamp.isdigit() or not given:
        raise BadSignature(f"malformed {HEADER}: expected t=<unix seconds>,v1=<hex>")
    expected = _hmac(secret, stamp.encode() + b"." + body).hexdigest()
    if not hmac.compare_digest(expected, given[0].lower()):
        raise BadSignature("signature does not match the body")
    if abs((time.time() if now is None else now) - int(stamp)) > window_s:
        raise BadSignature(f"signature is stale: signed more than {window_s // 60} minutes from now")
    return int(stamp)


def shopify_sign(secret: str, body: bytes) -> str:
    return base64.b64encode(_hmac(secret, body).digest()).decode()


def shopify_verify(secret: str, header: str | None, body: bytes) -> None:
    if not header:
        raise BadSignature("missing X-Shopify-Hmac-Sha256 header")
    if not hmac.compare_digest(shopify_sign(secret, body).encode(), header.strip().encode()):
        raise BadSignature("X-Shopify-Hmac-Sha256 does not match the body")


def tracking_token(secret: str, order_id: str) -> str:
    """The token of an order's tracking page: cannot be made, nor the order's id read, without the secret."""
    return base64.urlsafe_b64encode(_hmac(secret, b"track:" + order_id.encode()).digest()[:18]).decode()


def _hmac(secret: str, data: bytes) -> hmac.HMAC:
    return hmac.new(secret.encode(), data, hashlib.sha256)
