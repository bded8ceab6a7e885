"""Settings a broker or database would refuse later, refused when the process starts, with the bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("ms", [5_999, 300_001])
def test_a_consumer_session_the_broker_would_refuse_is_refused_at_start(ms: int) -> None:
    with pytest.raises(ValidationError, match="consume_session_timeout_ms"):
        Settings(consume_session_timeout_ms=ms)


def test_the_consumer_session_is_ten_seconds_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMS_CONSUME_SESSION_TIMEOUT_MS", raising=False)
    assert Settings().consume_session_timeout_ms == 10_000
    assert Settings(consume_session_timeout_ms=6_000).consume_session_timeout_ms == 6_000
