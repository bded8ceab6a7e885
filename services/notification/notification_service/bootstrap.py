"""The notification service's dependencies: the secret its tracking links are signed with."""

from __future__ import annotations

from dataclasses import dataclass

from runtime import security
from runtime.deps import Deps


@dataclass(kw_only=True)
class NotificationDeps(Deps):
    tracking_secret: str


def bootstrap(deps: Deps) -> NotificationDeps:
    return deps.extended(NotificationDeps, tracking_secret=security.tracking_secret(deps.settings))
