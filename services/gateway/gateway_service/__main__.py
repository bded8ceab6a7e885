"""`python -m gateway_service` runs the gateway."""

import uvloop

from gateway_service.app import runtime

uvloop.run(runtime().run())
