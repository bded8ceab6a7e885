"""`python -m shipping_service` runs the service."""

import asyncio

from shipping_service.app import runtime

asyncio.run(runtime().run())
