"""``python -m wyoming_server``: serve the Wyoming protocol on HOST:PORT (TCP 10300 by default).

On SIGTERM or SIGINT it stops accepting connections, lets the requests under way finish for up to
SHUTDOWN_GRACE_SECONDS, then closes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from common.service import configure_logging
from wyoming_server.catalog import Listings
from wyoming_server.gateway import Gateway
from wyoming_server.handler import Handler
from wyoming_server.settings import Settings

log = logging.getLogger("wyoming_server")


async def serve(settings: Settings) -> None:
    gateway = Gateway(settings)
    listings = Listings(gateway)
    handlers: set[Handler] = set()
    connections: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = Handler(reader, writer, settings=settings, gateway=gateway, listings=listings)
        task = asyncio.current_task()
        assert task is not None
        handlers.add(handler)
        connections.add(task)
        try:
            await handler.run()
        except ConnectionError:
            pass  # the client went mid-write
        finally:
            handlers.discard(handler)
            connections.discard(task)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(connected, settings.host, settings.port)
    if settings.zeroconf:
        await _announce(settings)
    log.info("Wyoming server on tcp://%s:%d, speech API at %s", settings.host, settings.port, gateway.url)
    try:
        await stop.wait()
    finally:
        log.info("stopping: %d connection(s) open", len(connections))
        server.close()
        if connections:
            await asyncio.wait(set(connections), timeout=settings.shutdown_grace_seconds)
        await asyncio.gather(*(handler.stop() for handler in list(handlers)), return_exceptions=True)
        if connections:
            await asyncio.wait(set(connections), timeout=5)
        await gateway.aclose()


async def _announce(settings: Settings) -> None:
    """Zeroconf: ``_wyoming._tcp`` with this server's port, on HOST when it is one address (else the
    address of the interface that reaches the mDNS group). The record lapses when the process ends."""
    from wyoming.zeroconf import HomeAssistantZeroconf

    host = None if settings.host in ("0.0.0.0", "::", "") else settings.host
    zeroconf = HomeAssistantZeroconf(port=settings.port, name=settings.zeroconf_name, host=host)
    await zeroconf.register_server()
    log.info("announced as %r (_wyoming._tcp) on %s", settings.zeroconf_name, zeroconf.host)


def main() -> None:
    settings = Settings()
    configure_logging("wyoming", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
