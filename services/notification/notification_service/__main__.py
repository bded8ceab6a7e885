"""`python -m notification_service` runs the service."""

import asyncio

from notification_service.app import runtime

asyncio.run(runtime().run())
