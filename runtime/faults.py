"""What to do about a failure, decided in one place: the fault table.

Every failure a consumer, the outbox relay or a background job meets is one of three things:

- `RETRY`: the infrastructure failed, not the message (the database or broker gone, restarting, read-only after a
  failover, out of disk, refusing a privilege an operator must grant, a transaction lost to a conflict). The
  message is rewound and tried again, however long it takes; it is never dead-lettered, so per-order order holds.
  A message stuck this way longer than `STUCK_AFTER_S` is reported (log `consume.stuck`, metric
  `oms_messages_stuck_total`) so an operator learns of an incident that does not pass on its own.
- `PARK`: refused the same way every time for a reason outside the message's author (the database refuses the
  value, the broker refuses the record or the topic, the topic does not exist or this service may not write it).
  The record goes to `parked_messages` with the reason, the partition or relay goes on, and an operator replays it
  (`oms parked`) once the cause is mended.
- `DEAD_LETTER`: the message itself is at fault (invalid, or a handler fails on it each time): `<topic>.dlq` with the
  reason, after `max_attempts` tries (at once for `Unprocessable`).

`FAULTS` is the table; docs/operations.md prints it (`oms faults` renders it from here, so the two cannot drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
)


class Action(StrEnum):
    RETRY = "retry"
    PARK = "park"
    DEAD_LETTER = "dead_letter"


STUCK_AFTER_S = 30.0  # a message retried this long is reported once (and again each time as long again has passed)


class NotReady(Exception):
    """Something this message needs has not arrived yet (from another topic): retried, never dead-lettered."""


class Unprocessable(Exception):
    """The message is well-formed but can never be applied (e.g. stock would go negative): dead-letter at once."""


class TopicMissing(KafkaError):
    """The broker answers, but does not have the topic, and will not create it (auto-create is off)."""


class OversizedMessage(ValueError):
    """A message too large for the broker, found when it is written to the outbox (cheaper than when it is sent)."""


@dataclass(frozen=True)
class Fault:
    name: str
    errors: tuple[type[Exception], ...]
    action: Action
    why: str


# First match wins: the narrower classes come before the broader ones they belong to.
FAULTS: tuple[Fault, ...] = (
    Fault("waiting for another message", (NotReady,), Action.RETRY,
          "what it needs arrives on another topic; reported when it waits too long"),
    Fault("unprocessable", (Unprocessable,), Action.DEAD_LETTER, "can never be applied: dead-lettered at once"),
    Fault("connection lost", (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                              OSError, ConnectionError, TimeoutError), Action.RETRY,
          "the database or the network went away; the pool reconnects"),
    Fault("admin shutdown", (asyncpg.AdminShutdownError, asyncpg.CrashShutdownError), Action.RETRY,
          "the server was stopped or its backend terminated (57P01, 57P02): a restart or a failover"),
    Fault("query cancelled", (asyncpg.QueryCanceledError,), Action.RETRY,
          "a statement timeout or an operator's pg_cancel_backend (57014)"),
    Fault("read-only", (asyncpg.ReadOnlySQLTransactionError,), Action.RETRY,
          "the server went read-only (a standby after a failover, default_transaction_read_only) (25006)"),
    Fault("disk full / resources", (asyncpg.InsufficientResourcesError,), Action.RETRY,
          "disk full, out of memory, too many connections (class 53): an operator frees them"),
    Fault("serialization failure", (asyncpg.SerializationError,), Action.RETRY,
          "lost to a concurrent transaction (40001): run again"),
    Fault("deadlock", (asyncpg.DeadlockDetectedError,), Action.RETRY,
          "lost to a concurrent transaction (40P01): a batch is split, each message run again"),
    Fault("lock not available", (asyncpg.LockNotAvailableError,), Action.RETRY, "a lock timeout (55P03)"),
    Fault("privilege", (asyncpg.InsufficientPrivilegeError,), Action.RETRY,
          "the service's role lacks a grant (42501): waits for an operator to grant it"),
    Fault("data error", (asyncpg.DataError, asyncpg.ProgramLimitExceededError, UnicodeError, OversizedMessage),
          Action.PARK, "the database refuses the value itself (class 22, 54): no retry can help"),
    Fault("broker refusal", (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError,
                             InvalidTopicError, PolicyViolationError, CorruptRecordException,
                             UnsupportedForMessageFormatError), Action.PARK,
          "the broker refuses the record the same way every time"),
    Fault("unknown topic", (TopicMissing,), Action.PARK,
          "the broker answers and has no such topic (auto-create is off): parked until it is created"),
    Fault("authorization", (TopicAuthorizationFailedError,), Action.PARK,
          "this service may not write the topic (ACL): parked until an operator grants it"),
    Fault("broker unreachable", (UnknownTopicOrPartitionError, KafkaError), Action.RETRY,
          "the broker does not answer, or has no leader yet: waited out"),
)
OTHER = Fault("anything else", (Exception,), Action.DEAD_LETTER,
              "a handler that fails on a message each time: tried max_attempts times, then dead-lettered")

_cache: dict[type[BaseException], Fault] = {}


def classify(exc: BaseException) -> Fault:
    """The row of the table that `exc` falls under."""
    kind = type(exc)
    fault = _cache.get(kind)
    if fault is None:
        fault = _cache[kind] = next((f for f in FAULTS if issubclass(kind, f.errors)), OTHER)
    return fault


def action(exc: BaseException) -> Action:
    return classify(exc).action


def retried(exc: BaseException) -> bool:
    return classify(exc).action is Action.RETRY


def parked(exc: BaseException) -> bool:
    return classify(exc).action is Action.PARK


# The broker's refusals of a record or a topic: the rows or records concerned are parked, the rest go on.
REFUSED_BY_BROKER: tuple[type[Exception], ...] = tuple(
    e for f in FAULTS if f.action is Action.PARK and f.name in ("broker refusal", "unknown topic", "authorization")
    for e in f.errors)
