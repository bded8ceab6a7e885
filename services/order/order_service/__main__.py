"""`python -m order_service` runs the service."""

import asyncio

from order_service.app import runtime

asyncio.run(runtime().run())
