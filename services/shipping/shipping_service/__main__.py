"""`python -m shipping_service` runs the service."""

import uvloop

from shipping_service.app import runtime

uvloop.run(runtime().run())
