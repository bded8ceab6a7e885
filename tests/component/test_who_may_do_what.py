"""The broker itself refuses what the contract's "Who may do what" forbids: nobody connects anonymously or with a
wrong password; a partner reads only its own requests and writes only its own updates; a channel writes only its own
inbound topic and cannot take a service's consumer group."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from aiokafka.helpers import create_ssl_context

from contracts import topics
from devstack.access import everyone
from rules.network import load_network
from runtime.kafka_tools import topic_partitions
from runtime.security import OPERATOR, OPERATOR_ACT, OPERATOR_REPLAY, client_options, principal
from runtime.settings import get_settings

pytestmark = pytest.mark.component

BERLIN, ROTTERDAM = "3pl-berlin", "dc-rotterdam"


async def send(kafka: dict, topic: str) -> None:
    producer = AIOKafkaProducer(**kafka, acks="all", request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 30)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 30)
    finally:
        await asyncio.wait_for(producer.stop(), 10)


async def read(kafka: dict, topic: str, group: str | None = None) -> None:
    """Reads the topic's first partition (in `group`, if given) until the broker answers either way."""
    consumer = AIOKafkaConsumer(**kafka, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    await asyncio.wait_for(consumer.start(), 30)
    try:
        await topic_partitions(consumer, topic)  # the broker tells only those allowed to read it that it exists
        tp = TopicPartition(topic, 0)
        if group is None:
            consumer.assign([tp])
            await asyncio.wait_for(consumer.seek_to_beginning(tp), 30)
            await asyncio.wait_for(consumer.getmany(tp, timeout_ms=2000), 30)
        else:
            consumer.subscribe([topic])
            await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 30)
            await asyncio.wait_for(consumer.commit(), 30)
    finally:
        await asyncio.wait_for(consumer.stop(), 10)


async def refused(kafka: dict, topic: str, caplog: pytest.LogCaptureFixture, because: str) -> None:
    """The broker answers and refuses the client for `because` (as the client's log says): not a broker that is
    simply unreachable, which would fail the same way for anyone."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await send(kafka, topic)
    said = " ".join(record.getMessage() for record in caplog.records)
    assert because in said and "Connect call failed" not in said, said


def as_(kind: str, ident: str = "") -> dict:
    return dict(client_options(who=principal(kind, ident)))


async def test_an_anonymous_client_or_a_wrong_password_is_refused(stack, caplog):
    await send(as_("channel", "web"), topics.channel_topic("web"))  # the broker answers the right password
    anonymous = {"bootstrap_servers": get_settings().kafka_bootstrap, "security_protocol": "PLAINTEXT"}
    await refused(anonymous, topics.ORDERS_INBOUND.name, caplog, "closed")  # the SASL listener hangs up on it
    wrong = {**as_("channel", "web"), "sasl_plain_password": "not-the-password"}
    await refused(wrong, topics.ORDERS_INBOUND.name, caplog, "SaslAuthenticationFailed")


async def test_over_tls_a_client_that_trusts_the_stacks_ca_gets_in_and_one_that_does_not_is_refused(stack, caplog):
    s = get_settings()
    tls = s.model_copy(update={"kafka_bootstrap": s.kafka_tls_bootstrap, "kafka_security_protocol": "SASL_SSL",
                               "kafka_ssl_cafile": s.home / "tls" / "ca.pem"})
    web = client_options(tls, principal("channel", "web"))
    assert web["bootstrap_servers"] != s.kafka_bootstrap and web["security_protocol"] == "SASL_SSL"
    await send(web, topics.channel_topic("web"))
    await read(client_options(tls, principal("service", "order")), topics.channel_topic("web"))
    with pytest.raises(TopicAuthorizationFailedError):  # the same rules over TLS
        await send(web, topics.ORDERS_INBOUND.name)
    untrusting = {**web, "ssl_context": create_ssl_context()}  # the system's authorities only
    await refused(untrusting, topics.channel_topic("web"), caplog, "CERTIFICATE_VERIFY_FAILED")
    anonymous = {"bootstrap_servers": tls.kafka_bootstrap, "security_protocol": "SSL", "ssl_context": web["ssl_context"]}
    await refused(anonymous, topics.channel_topic("web"), caplog, "closed")


async def test_a_partner_reads_only_its_own_requests_and_writes_only_its_own_updates(stack):
    berlin = as_("warehouse", BERLIN)
    await read(berlin, topics.WAREHOUSE_REQUESTS.for_partner(BERLIN))  # its own: allowed
    await send(berlin, topics.WAREHOUSE_UPDATES.for_partner(BERLIN))
    with pytest.raises(TopicAuthorizationFailedError):
        await read(berlin, topics.WAREHOUSE_REQUESTS.for_partner(ROTTERDAM))
    with pytest.raises(TopicAuthorizationFailedError):
        await send(berlin, topics.WAREHOUSE_UPDATES.for_partner(ROTTERDAM))
    with pytest.raises(TopicAuthorizationFailedError):
        await send(berlin, topics.ORDERS_INBOUND.name)
    with pytest.raises(TopicAuthorizationFailedError):
        await send(as_("carrier", "dhl"), topics.INVENTORY_COMMANDS.name)


async def test_a_drop_ship_supplier_reads_its_purchase_orders_and_answers_them_and_nothing_else(stack):
    supplier = as_("supplier", "supplier-hamburg")
    await read(supplier, topics.SUPPLIER_REQUESTS.for_partner("supplier-hamburg"))
    await send(supplier, topics.SUPPLIER_UPDATES.for_partner("supplier-hamburg"))
    for other in (topics.WAREHOUSE_UPDATES.for_partner(BERLIN), topics.CARRIER_UPDATES.for_partner("dhl"),
                  topics.INVENTORY_ADJUSTMENTS.name, topics.FULFILLMENT_EVENTS.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(supplier, other)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(supplier, topics.WAREHOUSE_REQUESTS.for_partner(BERLIN))


async def test_a_stock_feed_writes_its_own_adjustments_topic_and_nothing_else(stack):
    feed = as_("feed", "wms-rotterdam")
    await send(feed, topics.feed_topic("wms-rotterdam"))
    for other in (topics.INVENTORY_ADJUSTMENTS.name, topics.feed_topic("tills-munich"), topics.ORDERS_INBOUND.name,
                  topics.INVENTORY_COMMANDS.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(feed, other)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(feed, topics.INVENTORY_EVENTS.name)


async def test_a_channel_writes_its_own_topic_only_and_cannot_take_a_services_group(stack):
    web = as_("channel", "web")
    await send(web, topics.channel_topic("web"))
    for other in (topics.channel_topic("marketplace:amazon"), topics.ORDERS_INBOUND.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(web, other)
    with pytest.raises(GroupAuthorizationFailedError):
        await read(web, topics.channel_events_topic("web"), group="order.saga")
    with pytest.raises(TopicAuthorizationFailedError):
        await read(web, topics.WAREHOUSE_REQUESTS.for_partner(ROTTERDAM))
    await read(web, topics.channel_events_topic("web"), group=f"{principal('channel', 'web')}.{uuid.uuid4().hex[:6]}")


async def test_a_channel_reads_its_own_events_and_availability_and_no_other_channels(stack):
    web = as_("channel", "web")
    await read(web, topics.channel_events_topic("web"))
    await read(web, topics.channel_availability_topic("web"))
    for others in (topics.ORDERS_EVENTS.name, topics.PAYMENTS.name, topics.AVAILABILITY.name,
                   topics.channel_events_topic("marketplace:amazon"),
                   topics.channel_availability_topic("marketplace:amazon")):
        with pytest.raises(TopicAuthorizationFailedError):
            await read(web, others)


async def test_operators_watch_without_personal_data_act_on_orders_and_stock_and_replay_dead_letters(stack):
    reader, actor, replayer = as_(OPERATOR), as_(OPERATOR_ACT), as_(OPERATOR_REPLAY)
    await read(reader, topics.ORDERS_EVENTS.name)
    await read(reader, topics.ORDERS_EVENTS.name, group=f"operator.{uuid.uuid4().hex[:6]}")
    with pytest.raises(TopicAuthorizationFailedError):  # names, addresses, e-mails
        await read(reader, topics.WAREHOUSE_REQUESTS.for_partner(ROTTERDAM))
    with pytest.raises(GroupAuthorizationFailedError):  # another group's offsets are not the reader's to move
        await read(reader, topics.ORDERS_EVENTS.name, group="notification.oms.orders.events.v1")
    for forged in (topics.WAREHOUSE_UPDATES.for_partner(BERLIN), topics.ORDERS_EVENTS.name,
                   topics.INVENTORY_COMMANDS.name):
        for who in (reader, actor):
            with pytest.raises(TopicAuthorizationFailedError):
                await send(who, forged)
    await send(actor, topics.ORDERS_INBOUND.name)
    await send(actor, topics.INVENTORY_ADJUSTMENTS.name)
    await read(replayer, f"{topics.ORDERS_INBOUND.name}.dlq")
    with pytest.raises(TopicAuthorizationFailedError):
        await read(replayer, topics.ORDERS_INBOUND.name)


async def test_no_principal_is_anyones_default_and_no_simulator_principal_exists(stack, caplog):
    with pytest.raises(ValueError, match="no principal named"):
        client_options()
    assert "simulators" not in everyone(load_network(get_settings().network_file))
    await refused({**as_("channel", "web"), "sasl_plain_username": "simulators"}, topics.ORDERS_INBOUND.name, caplog,
                  "SaslAuthenticationFailed")  # no such user on the broker
