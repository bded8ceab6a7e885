"""`python -m inventory_service` runs the service."""

import asyncio

from inventory_service.app import runtime

asyncio.run(runtime().run())
