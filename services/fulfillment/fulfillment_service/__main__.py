"""`python -m fulfillment_service` runs the service."""

import asyncio

from fulfillment_service.app import runtime

asyncio.run(runtime().run())
