"""`python -m fulfillment_service` runs the service."""

import uvloop

from fulfillment_service.app import runtime

uvloop.run(runtime().run())
