"""`python -m inventory_service` runs the service."""

import uvloop

from inventory_service.app import runtime

uvloop.run(runtime().run())
