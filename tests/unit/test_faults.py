"""The fault table decides, and the consume policy follows it: an incident is waited out (never dead-lettered), a
refusal parked, a message that fails each time dead-lettered; what is skipped or stuck is said."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from runtime import consume, faults
from runtime.faults import Action, NotReady, TopicMissing, Unprocessable, classify

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("exc", "name", "action"), [
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), "admin shutdown",
     Action.RETRY),
    (asyncpg.QueryCanceledError("canceling statement due to user request"), "query cancelled", Action.RETRY),
    (asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"), "read-only",
     Action.RETRY),
    (asyncpg.DiskFullError("could not extend file"), "disk full / resources", Action.RETRY),
    (asyncpg.TooManyConnectionsError("too many"), "disk full / resources", Action.RETRY),
    (asyncpg.InsufficientPrivilegeError("permission denied for table stock"), "privilege", Action.RETRY),
    (asyncpg.SerializationError("could not serialize"), "serialization failure", Action.RETRY),
    (asyncpg.DeadlockDetectedError("deadlock"), "deadlock", Action.RETRY),
    (asyncpg.ConnectionDoesNotExistError("connection was closed"), "connection lost", Action.RETRY),
    (ConnectionResetError(), "connection lost", Action.RETRY),
    (TimeoutError(), "connection lost", Action.RETRY),
    (KafkaConnectionError(), "broker unreachable", Action.RETRY),
    (UnknownTopicOrPartitionError(), "broker unreachable", Action.RETRY),
    (NotReady("contact not seen yet"), "waiting for another message", Action.RETRY),
    (asyncpg.NumericValueOutOfRangeError("out of range"), "data error", Action.PARK),
    (asyncpg.CharacterNotInRepertoireError("invalid byte sequence"), "data error", Action.PARK),
    (TopicMissing("no such topic"), "unknown topic", Action.PARK),
    (TopicAuthorizationFailedError(), "authorization", Action.PARK),
    (Unprocessable("stock would go negative"), "unprocessable", Action.DEAD_LETTER),
    (asyncpg.UniqueViolationError("duplicate key"), "anything else", Action.DEAD_LETTER),
    (KeyError("line"), "anything else", Action.DEAD_LETTER),
])
def test_each_error_class_has_its_row(exc: Exception, name: str, action: Action) -> None:
    fault = classify(exc)
    assert (fault.name, fault.action) == (name, action)


def test_every_row_can_be_reached() -> None:
    """No row is shadowed by an earlier, broader one."""
    for fault in faults.FAULTS:
        for error in fault.errors:
            assert classify(error.__new__(error)).name == fault.name, (fault.name, error)


def record(offset: int = 7) -> ConsumerRecord:
    return ConsumerRecord(topic="oms.orders.inbound.v1", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=b"k", value=b"{}", checksum=None, serialized_key_size=1, serialized_value_size=2,
                          headers=[])


class Recorder(consume.ConsumePolicy):
    """The policy with its two ways out (the dead-letter topic, the parking table) recorded instead of written."""

    def __init__(self) -> None:
        async def publish(*_: Any) -> None:
            raise AssertionError("dead_letter is recorded, not published")
        super().__init__(consumer="test", publish=publish, pool=None, backoff_s=0.0001)  # type: ignore[arg-type]
        self.dead: list[str] = []
        self.parked: list[str] = []

    async def dead_letter(self, record: ConsumerRecord, reason: str, attempts: int) -> None:
        self.dead.append(reason)

    async def park(self, record: ConsumerRecord, reason: str) -> None:
        self.parked.append(reason)


def failing(*errors: Exception) -> tuple[Callable[[], Awaitable[None]], list[int]]:
    """A handler that raises `errors` in turn, then succeeds; and the count of its calls."""
    calls = [0]

    async def handle() -> None:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
    return handle, calls


@pytest.mark.parametrize("incident", [
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.QueryCanceledError("canceling statement due to user request"),
    asyncpg.ReadOnlySQLTransactionError("cannot execute UPDATE in a read-only transaction"),
    asyncpg.DiskFullError("could not extend file: No space left on device"),
    asyncpg.InsufficientPrivilegeError("permission denied for table outbox"),
])
async def test_an_incident_longer_than_the_attempts_is_waited_out_not_dead_lettered(incident: Exception) -> None:
    policy = Recorder()
    handle, calls = failing(*[incident] * (policy.max_attempts * 3))
    await policy._run(handle, record())
    assert (policy.dead, policy.parked, calls[0]) == ([], [], policy.max_attempts * 3 + 1)


async def test_a_refusal_is_parked_at_once_and_a_failing_message_dead_lettered_after_its_attempts() -> None:
    policy = Recorder()
    handle, calls = failing(asyncpg.NumericValueOutOfRangeError("integer out of range"))
    await policy._run(handle, record())
    assert calls[0] == 1 and len(policy.parked) == 1 and "data error" in policy.parked[0] and policy.dead == []

    policy = Recorder()
    handle, calls = failing(*[KeyError("line")] * 10)
    await policy._run(handle, record())
    assert calls[0] == policy.max_attempts and policy.dead == ["KeyError: 'line'"] and policy.parked == []

    policy = Recorder()
    handle, calls = failing(Unprocessable("no order"))
    await policy._run(handle, record())
    assert calls[0] == 1 and policy.dead == ["unprocessable: no order"]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_message_stuck_past_the_limit_is_reported(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(consume, "STUCK_AFTER_S", 0.0)
    labels = {"service": "test", "topic": "oms.orders.inbound.v1", "fault": "waiting for another message"}
    before = sample("oms_messages_stuck_total", labels)
    policy = Recorder()
    handle, _ = failing(NotReady("contact of o-1 not seen yet"), NotReady("contact of o-1 not seen yet"))
    await policy._run(handle, record())
    assert sample("oms_messages_stuck_total", labels) - before == 2
    said = capsys.readouterr()
    assert "consume.stuck" in said.out + said.err
    assert policy._stuck_reports == {}  # forgotten once the message passed


def test_the_operators_guide_prints_the_table_as_it_is() -> None:
    from runtime.settings import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    for fault in (*faults.FAULTS, faults.OTHER):
        row = f"| {fault.name} | {', '.join(f'`{e.__name__}`' for e in fault.errors)} | " \
              f"{fault.action.value.replace('_', ' ')} | {fault.why} |"
        assert row in guide, row
