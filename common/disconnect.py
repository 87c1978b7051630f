"""Noticing that an HTTP client went away, the same way in every service.

Once a request's body has been read, the ASGI ``receive`` callable yields nothing but
``http.disconnect``. ``cancel_on_disconnect`` watches for it and cancels the work in its block,
so a backend stops inference and the gateway drops its backend request when nobody waits for
the answer any more. (While a ``StreamingResponse`` is being sent, Starlette watches for the
disconnect itself and cancels the stream.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.types import Receive


class ClientGone(Exception):
    """The client disconnected; the work it asked for was cancelled."""


async def client_disconnected(receive: Receive) -> None:
    """Return once the client has gone (call only after the request body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


@contextlib.asynccontextmanager
async def cancel_on_disconnect(receive: Receive, *, after: asyncio.Event | None = None) -> AsyncIterator[None]:
    """Run the block; if the client disconnects meanwhile, cancel it and raise ``ClientGone``.

    ``after``: start watching only once this event is set (the request body has been read),
    for a block that itself still reads the body, e.g. while streaming an upload onwards.
    """

    with anyio.CancelScope() as scope:

        async def watch() -> None:
            if after is not None:
                await after.wait()
            await client_disconnected(receive)
            scope.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            yield
        finally:
            watcher.cancel()
    if scope.cancelled_caught:
        raise ClientGone
