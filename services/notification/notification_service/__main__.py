"""`python -m notification_service` runs the service."""

import uvloop

from notification_service.app import runtime

uvloop.run(runtime().run())
