"""`python -m order_service` runs the service."""

import uvloop

from order_service.app import runtime

uvloop.run(runtime().run())
