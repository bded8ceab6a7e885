"""The gateway's dependencies: the secret its tracking links are signed with, and the webhook subscribers."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_service.subscribers import Subscriber, load_subscribers
from runtime import security
from runtime.deps import Deps


@dataclass(kw_only=True)
class GatewayDeps(Deps):
    tracking_secret: str
    subscribers: list[Subscriber]


def bootstrap(deps: Deps) -> GatewayDeps:
    return deps.extended(GatewayDeps, tracking_secret=security.tracking_secret(deps.settings),
                         subscribers=load_subscribers(deps.settings.webhooks_file))
