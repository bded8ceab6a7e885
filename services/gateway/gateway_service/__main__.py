"""`python -m gateway_service` runs the gateway."""

import uvloop

from gateway_service.app import runtime

if __name__ == "__main__":  # not when an HTTP worker process (spawned) imports it
    uvloop.run(runtime().run())
