"""The consume policy: parse, handle with bounded retries, dead-letter what fails, ack after commit."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import Tracer
from pydantic import ValidationError

from contracts.base import Message
from contracts.topics import Topic
from runtime import metrics, tracing
from runtime.faults import STUCK_AFTER_S, Action, NotReady, Unprocessable, classify
from runtime.logging import handling, log
from runtime.messaging import InvalidMessage, current_span, current_trace, parse
from runtime.parking import REFUSED_BY_BROKER, park_record
from runtime.postgres import Postgres, within
from runtime.tables import Database
from runtime.unit import Handler, UnitOfWork, run

__all__ = ["ConsumePolicy", "Linger", "NotReady", "Subscription", "Unprocessable", "describe"]

Publish = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[None]]

@dataclass
class Subscription:
    """The topics one consumer of a service reads (`names`: the concrete names of `topic`, and of `also`, further
    topics read with the same handlers), with a handler per message type it acts on, and the unit of work its
    handlers run in (`work`, given the database of the batch's transaction)."""

    topic: Topic
    names: tuple[str, ...]
    handlers: Mapping[str, Handler[Any]]
    work: Callable[[Database], UnitOfWork]
    on_invalid: Handler[Any] | None = None  # handles what could not be read on `topic` and `invalid_from`
    invalid_from: tuple[Topic, ...] = ()
    dead_letter_invalid: bool = True  # False where another service owns the topic's dead letters
    # messages this consumer does nothing with (pure, no I/O): acknowledged without a transaction
    ignores: Callable[[Message], bool] | None = None
    by_topic: Mapping[str, Mapping[str, Handler[Any]]] = field(default_factory=dict)  # where topics need their own
    also: tuple[Topic, ...] = ()
    group_name: str | None = None  # the consumer group's suffix; the topic's name by default
    replaces: tuple[str, ...] = ()  # groups (suffixes) this one took over from: it starts where they stopped
    urgent: bool = False  # on an order's way to `released` (or feeding one that is): small batches wait less to grow

    def handlers_for(self, topic: str) -> Mapping[str, Handler[Any]]:
        return self.by_topic.get(topic, self.handlers)

    def topic_for(self, name: str) -> Topic:
        return next((t for t in self.also if t.matches(name)), self.topic)

    @property
    def group(self) -> str:
        return self.group_name or self.topic.name.replace("{partner}", "all")


@dataclass
class Linger:
    """How long a fetch of fewer records than a batch takes waits for more before its transaction: `wait_s` while
    records keep coming (the consumer's last batch ended less than `wait_s` ago), nothing for a record that comes
    after a quiet spell (waiting would gather nothing and only delay it). Under load every hop then runs fewer,
    fuller transactions, which leaves the machine the headroom its latency needs; a lone order is not held up."""

    wait_s: float
    clock: Callable[[], float] = time.monotonic
    _last: float = float("-inf")

    def before(self, records: int, most: int) -> float:
        """What a fetch of `records` should wait (seconds) before it is handled."""
        if not self.wait_s or records >= most or self.clock() - self._last > self.wait_s:
            return 0.0
        return self.wait_s

    def handled(self) -> None:
        self._last = self.clock()


@dataclass
class ConsumePolicy:
    consumer: str
    publish: Publish
    pool: asyncpg.Pool  # where units of work run, and parked messages go
    max_attempts: int = 3
    backoff_s: float = 0.2
    tracer: Tracer | None = None  # spans of what is handled (None: tracing off)
    give_up_after: int = 10  # consecutive unexpected failures of a fetch before the process exits
    unexpected_failures: int = 0  # since the process started
    _failing_in_a_row: int = 0
    _stuck_reports: dict[int, int] = field(default_factory=dict)  # id(record) -> reports made + 1

    @staticmethod
    def _bind(record: ConsumerRecord, message: Message | None = None) -> None:
        """What log lines and outgoing trace headers take from the message being handled (cheap: read lazily)."""
        handling.set((record, message))
        trace = None
        for key, value in record.headers or ():
            if key == "traceparent":
                trace = value.decode(errors="replace")
                break
        current_trace.set(trace)
        current_span.set(None)

    async def _parse(self, record: ConsumerRecord, sub: Subscription) -> tuple[Message, Handler[Any]] | None:
        """The message and its handler; a bad one is dead-lettered (and its sender told) and None returned."""
        self._bind(record)
        try:
            message = parse(record.value, sub.topic_for(record.topic))
            handler = sub.handlers_for(record.topic).get(message.type)
            if handler is None and not sub.dead_letter_invalid:  # a type this consumer has no business with
                metrics.IGNORED.labels(self.consumer, sub.group).inc()
                return None
            if handler is None:
                raise InvalidMessage(f"{self.consumer} has no handler for {message.type}")
        except InvalidMessage as invalid:
            if sub.dead_letter_invalid:
                await self.dead_letter(record, invalid.reason, attempts=1)
                if sub.on_invalid is not None and any(t.matches(record.topic) for t in (sub.topic, *sub.invalid_from)):
                    await self._tell_sender(sub, invalid, record)
            else:  # the topic's owner dead-letters it; this consumer skips it, and says so
                metrics.FAILED.labels(self.consumer, record.topic, "skipped_invalid").inc()
                log.info("consume.skipped_invalid", reason=invalid.reason)
            return None
        handling.set((record, message))
        return message, handler

    async def _tell_sender(self, sub: Subscription, invalid: InvalidMessage, record: ConsumerRecord) -> None:
        """`on_invalid` through outages; when it fails otherwise, the record is parked so an operator sees that the
        sender was not told (it is dead-lettered already), and the fetch goes on."""
        assert sub.on_invalid is not None
        try:
            invalid.topic = record.topic
            await self._retry_transient(partial(self._on_invalid, sub, invalid))
        except Exception as exc:
            log.error("consume.sender_not_told", error=describe(exc))
            await self.park(record, f"{invalid.reason}; the sender could not be told: {describe(exc)}")

    async def _on_invalid(self, sub: Subscription, invalid: InvalidMessage) -> None:
        assert sub.on_invalid is not None
        async with within(self.pool, sub.work) as unit:
            await sub.on_invalid(invalid, unit)

    async def handle_batch(self, records: list[ConsumerRecord], sub: Subscription) -> None:
        """A fetch's records (each partition's in order), in one unit of work (`_run_batch`). If that fails for any
        reason other than an outage, it is rolled back and each message runs again as a batch of one, through the
        same code, with its own retries and dead letter."""
        parsed: list[tuple[ConsumerRecord, tuple[Message, Handler[Any]]]] = []
        ignored = 0
        for record in records:
            if (p := await self._parse(record, sub)) is None:
                continue
            if sub.ignores is not None and sub.ignores(p[0]):
                ignored += 1
            else:
                parsed.append((record, p))
        if ignored:  # by design (not this consumer's business): counted, not logged one by one
            metrics.IGNORED.labels(self.consumer, sub.group).inc(ignored)
        if not parsed:
            return
        if len(parsed) > 1:
            outages = 0
            started = time.monotonic()
            while True:
                try:
                    await self._run_batch(parsed, sub)
                    self._stuck_reports.pop(id(parsed[0][0]), None)
                    return
                except Exception as exc:
                    fault = classify(exc)
                    if fault.action is not Action.RETRY or fault.name in ("deadlock", "waiting for another message"):
                        log.info("consume.batch_split", error=describe(exc), size=len(parsed), fault=fault.name)
                        break
                    outages += 1
                    self._report_stuck(parsed[0][0], fault.name, exc, started, outages)
                    await asyncio.sleep(min(self.backoff_s * 2 ** min(outages, 5), 5.0))
        for one in parsed:
            self._bind(one[0], one[1][0])
            await self._run(partial(self._run_batch, [one], sub), one[0])

    def _report_stuck(self, record: ConsumerRecord, fault: str, exc: Exception, started: float, tries: int) -> None:
        """A retried failure is a warning; one that has not passed in `STUCK_AFTER_S` (and each as long again) an
        error and a count, so an incident that does not pass on its own is seen."""
        waited = time.monotonic() - started
        log.warning("consume.transient_failure", fault=fault, error=describe(exc), tries=tries)
        if waited >= STUCK_AFTER_S * self._stuck_reports.get(id(record), 1):
            self._stuck_reports[id(record)] = self._stuck_reports.get(id(record), 1) + 1
            metrics.STUCK.labels(self.consumer, record.topic, fault).inc()
            log.error("consume.stuck", fault=fault, error=describe(exc), waited_s=round(waited), tries=tries)

    async def _run_batch(self, parsed: list[tuple[ConsumerRecord, tuple[Message, Handler[Any]]]],
                         sub: Subscription) -> None:
        started = time.time()
        spans = tracing.start(self.tracer, self.consumer, [(record, message) for record, (message, _) in parsed])

        def bind(n: int) -> None:
            self._bind(parsed[n][0], parsed[n][1][0])
            if spans:  # what this message causes is the child of its span
                current_span.set(tracing.traceparent(spans[n]))

        try:
            async with self.pool.acquire() as conn:
                async with conn.transaction():
                    unit = sub.work(Postgres(conn))
                    await run(unit, self.consumer, [item for _, item in parsed], bind,
                              [record.topic for record, _ in parsed])
                unit.committed()
        except BaseException as exc:
            tracing.finish(spans, exc)
            raise
        tracing.finish(spans)
        handling.set(None)
        metrics.batch_handled(self.consumer, sub.group, [(r.topic, m.type) for r, (m, _) in parsed],
                              time.time() - started)
        log.debug("consume.batch", topic=parsed[0][0].topic, size=len(parsed), ms=round((time.time() - started) * 1000),
                  waited_ms=round(started * 1000 - min(record.timestamp for record, _ in parsed)))

    async def _run(self, handle: Callable[[], Awaitable[None]], record: ConsumerRecord) -> None:
        """One message, as the fault table says (`runtime.faults`): an outage is waited out, a refusal parked, a
        message that fails each time retried with backoff and then dead-lettered."""
        failures, outages = 0, 0
        started = time.monotonic()
        try:
            while True:
                try:
                    await handle()
                    return
                except Exception as exc:
                    fault = classify(exc)
                    if fault.action is Action.RETRY:
                        outages += 1
                        self._report_stuck(record, fault.name, exc, started, outages)
                        await asyncio.sleep(min(self.backoff_s * 2 ** min(outages, 5), 5.0))
                        continue
                    if fault.action is Action.PARK:
                        await self.park(record, f"{fault.name}, no retry can help: {describe(exc)}")
                        return
                    failures += 1
                    if isinstance(exc, Unprocessable):
                        await self.dead_letter(record, f"unprocessable: {exc}", attempts=1)
                        return
                    if failures >= self.max_attempts:
                        log.error("consume.failed", error=describe(exc), attempts=failures)
                        await self.dead_letter(record, describe(exc), attempts=failures)
                        return
                    log.warning("consume.retrying", error=describe(exc), attempt=failures)
                    await asyncio.sleep(self.backoff_s * 2 ** (failures - 1))
        finally:
            self._stuck_reports.pop(id(record), None)

    async def _retry_transient(self, action: Callable[[], Awaitable[object]]) -> None:
        """`action` until it succeeds; an outage is waited out, anything else (a refusal too) raised."""
        delay = self.backoff_s
        while True:
            try:
                await action()
                return
            except Exception as exc:
                if classify(exc).action is not Action.RETRY or isinstance(exc, NotReady):
                    raise
                log.warning("consume.transient_failure", error=describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def dead_letter(self, record: ConsumerRecord, reason: str, attempts: int) -> None:
        """The original bytes to `<topic>.dlq`, with why, where from and how often in headers."""
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
        headers += [(k, str(v).encode()) for k, v in {
            "dlq_reason": reason[:2000], "dlq_source_topic": record.topic,
            "dlq_source_partition": record.partition, "dlq_source_offset": record.offset,
            "dlq_attempts": attempts, "dlq_consumer": self.consumer,
            "dlq_failed_at": datetime.now(UTC).isoformat()}.items()]
        try:
            await self._retry_transient(lambda: self.publish(f"{record.topic}.dlq", record.key, record.value, headers))
        except REFUSED_BY_BROKER as exc:
            await self.park(record, f"{reason}; its dead-letter topic refused it: {describe(exc)}")
            return
        metrics.FAILED.labels(self.consumer, record.topic, "dead_lettered").inc()
        log.warning("consume.dead_lettered", reason=reason, attempts=attempts)

    async def park(self, record: ConsumerRecord, reason: str) -> None:
        """The record into `parked_messages`, through database outages (see `runtime.parking`)."""
        await self._retry_transient(lambda: park_record(self.pool, self.consumer, record, reason))
        metrics.FAILED.labels(self.consumer, record.topic, "parked").inc()

    def handled(self) -> None:
        self._failing_in_a_row = 0

    async def unexpected_failure(self, consumer: AIOKafkaConsumer, records: list[ConsumerRecord],
                                 exc: BaseException) -> None:
        """A fetch failed in a way no rule above covers: nothing of it is committed, its partitions are set back to
        its first records (read again after a pause), and a process that keeps failing exits for its supervisor."""
        self.unexpected_failures += 1
        self._failing_in_a_row += 1
        log.error("consume.unexpected_failure", error=describe(exc) if isinstance(exc, Exception) else repr(exc),
                  records=len(records), in_a_row=self._failing_in_a_row, total=self.unexpected_failures,
                  exc_info=exc)
        firsts: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            firsts[tp] = min(firsts.get(tp, record.offset), record.offset)
        try:
            owned = consumer.assignment()
            for tp, offset in firsts.items():
                if tp in owned:
                    consumer.seek(tp, offset)
        except Exception as seek_failed:
            log.critical("consume.cannot_rewind", error=repr(seek_failed))
            os._exit(70)
        if self._failing_in_a_row >= self.give_up_after:
            log.critical("consume.giving_up", in_a_row=self._failing_in_a_row)
            os._exit(70)
        await asyncio.sleep(min(self.backoff_s * 2 ** self._failing_in_a_row, 30.0))


def describe(exc: Exception) -> str:
    """One line about a failure, without the input values a validation error would echo (customer data)."""
    if isinstance(exc, ValidationError):
        return f"ValidationError: {exc.error_count()} error(s): " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
    return f"{type(exc).__name__}: {exc}"
