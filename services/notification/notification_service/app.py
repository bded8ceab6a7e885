"""The notification service's wiring: contacts from the inbound topic, order events, and the dispatcher."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from notification_service.bootstrap import NotificationDeps, bootstrap
from notification_service.dispatch import dispatch
from notification_service.handlers import EVENTS, INBOUND, from_channel, tells_nobody
from notification_service.senders import senders_from_env
from notification_service.store import NotificationWork
from runtime.consume import Subscription
from runtime.personal_data import retention
from runtime.service import ServiceRuntime


def subscriptions(deps: NotificationDeps) -> list[Subscription]:
    work = partial(NotificationWork, deps)
    channels = {topics.channel_topic(c): from_channel(c) for c in deps.network.channels}
    return [
        # urgent: the contacts must be known before the order's first events are read (or those wait and retry)
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, *channels), INBOUND, work,
                     dead_letter_invalid=False, by_topic=channels, also=(topics.CHANNEL_INBOUND,), urgent=True),
        Subscription(topics.ORDERS_EVENTS, (topics.ORDERS_EVENTS.name,), EVENTS, work, ignores=tells_nobody),
    ]


async def dispatcher(deps: NotificationDeps) -> None:
    await dispatch(deps, senders_from_env(deps.settings.home), deps.settings.notify_max_attempts,
                   deps.settings.notify_backoff_s)


def runtime() -> ServiceRuntime[NotificationDeps]:
    return ServiceRuntime("notification", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[dispatcher, retention()])
