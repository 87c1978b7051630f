"""Relaying a client's WebSocket to a backend's, frame by frame, both ways.

The gateway keeps no session state and never looks inside the frames. The backend connection is
opened before the client's upgrade is accepted, so a backend that cannot be reached is a plain
HTTP refusal (502, or 504 when it does not answer in CONNECT_TIMEOUT_SECONDS) in the error
envelope. Then each direction is one loop that writes a frame before it reads the next: a side
that reads slowly slows the other side's sender down (TCP backpressure) instead of filling memory.
When either side closes, the other is closed with the same code and reason.

The backend client is the ``websockets`` package; the client side uses only Starlette's (ASGI)
WebSocket API, so any ASGI server can run the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from common.errors import APIError
from gateway.backends import Backend
from gateway.replicas import Replica

log = logging.getLogger(__name__)

CLIENT_GONE = (WebSocketDisconnect, WebSocketDisconnected)
# Close codes that say what happened but may not be sent in a close frame (RFC 6455 7.4.1).
UNSENDABLE = frozenset({1005, 1006, 1015})


@contextlib.asynccontextmanager
async def backend_socket(
    backend: Backend, target: str, *, headers: Sequence[tuple[str, str]], timeout: float
) -> AsyncIterator[ClientConnection]:
    """A WebSocket to ``target`` (path and query) on one of the backend's replicas, which the
    session keeps (it holds the session's state); a replica that refuses the connection is rested
    and another tried. Failing to open one is the APIError a client should see, naming the
    backend's ``service`` (its addresses go to the log only)."""
    tried: list[Replica] = []
    while (replica := backend.replicas.choose(exclude=tried)) is not None:
        url = _ws_url(replica.url) + target
        try:
            upstream = await _connect(url, headers, timeout)
        except TimeoutError as exc:
            backend.count(replica, "timeout")
            log.warning("%s backend did not accept the WebSocket within %g s [%s]", backend.label, timeout, url)
            raise APIError(
                504, f"The {backend.service} did not accept the WebSocket within {timeout:g} s.", code="backend_timeout"
            ) from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            backend.count(replica, "busy" if status == 429 else "http_error")
            log.warning("%s backend refused the WebSocket with HTTP %d [%s]", backend.label, status, url)
            message = f"The {backend.service} refused the WebSocket (HTTP {status})."
            raise APIError(502, message, code="backend_error") from exc
        except (OSError, InvalidHandshake) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            log.warning("%s backend WebSocket failed: %s [%s]", backend.label, str(exc) or reason, url)
            tried.append(replica)
            refused = isinstance(exc, ConnectionRefusedError)
            backend.count(replica, "refused" if refused else "error")
            if refused:
                backend.replicas.rest(replica)
            if backend.replicas.choose(exclude=tried) is not None:
                continue
            message = f"The {backend.service} did not answer ({reason.lower()})."
            raise APIError(502, message, code="backend_unreachable") from exc
        backend.count(replica, "ok")
        replica.in_flight += 1
        try:
            async with upstream:
                yield upstream
        finally:
            replica.in_flight -= 1
        return
    raise AssertionError("a backend always has a replica")


def _ws_url(base_url: str) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"


async def _connect(url: str, headers: Sequence[tuple[str, str]], timeout: float) -> ClientConnection:
    return await connect(
        url,
        additional_headers=list(headers),
        open_timeout=timeout,
        proxy=None,  # a backend is reached directly, whatever the environment's proxy settings
        compression=None,  # loopback or a private network: deflate would only cost CPU
        max_size=None,  # the backend is ours; the client-facing server bounds what clients send
        user_agent_header=None,
    )


async def relay(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Pass frames between the accepted ``websocket`` and ``upstream`` until one side closes,
    then close the other the same way."""
    client_close: list[tuple[int, str]] = []
    tasks = [
        asyncio.create_task(_client_to_backend(websocket, upstream, client_close)),
        asyncio.create_task(_backend_to_client(websocket, upstream)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        code, reason = client_close[0] if client_close else (1001, "client gone")
        await upstream.close(_sendable(code, 1001), reason)
        if (
            websocket.client_state == WebSocketState.CONNECTED
            and websocket.application_state == WebSocketState.CONNECTED
        ):
            with contextlib.suppress(*CLIENT_GONE, RuntimeError):
                await websocket.close(_sendable(upstream.close_code, 1011), upstream.close_reason or "")


async def _client_to_backend(websocket: WebSocket, upstream: ClientConnection, closed: list[tuple[int, str]]) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                closed.append((message.get("code", 1000), message.get("reason") or ""))
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    except (ConnectionClosed, *CLIENT_GONE):
        return


async def _backend_to_client(websocket: WebSocket, upstream: ClientConnection) -> None:
    try:
        async for message in upstream:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
    except (ConnectionClosed, *CLIENT_GONE):
        return


def _sendable(code: int | None, fallback: int) -> int:
    return fallback if code is None or code in UNSENDABLE else code
