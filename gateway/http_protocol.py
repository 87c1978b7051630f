"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol, with a request-head
timeout, two body copies less, and each response's head sent with its first body bytes.

* Head timeout: uvicorn waits for ever on a connection that never completes its request line and
  headers (slow loris at the header stage). Here each request's head must be complete within
  ``head_timeout`` seconds of the connection opening or of the request's first byte; otherwise
  the client gets a 408 envelope (an idle new connection is just closed) and the connection ends.
  Idle keep-alive connections are still closed by uvicorn's own keep-alive timeout.
* Body copies: uvicorn appends each request body chunk to a bytearray and copies it out again as
  bytes on every ``receive()``. The gateway streams uploads chunk by chunk, so a chunk normally
  sits alone in that buffer: here it stays the bytes object httptools made, and ``receive()``
  passes it on uncopied (``bytes(b) is b``): about 6% of the gateway's CPU on a proxied 1 MB
  upload (docs/benchmarks.md).
* One send per response, not two: uvicorn writes the head as soon as the app starts the response
  and the body separately, and each send to a client is a syscall and a wake-up on its side. The
  head is held until the first body write or the end of the event loop's current turn, whichever
  comes first (``_HeadWithBody``), so a streamed response's head is never held back; about 3% of
  the CPU of a proxied upload at concurrency 8.

uvicorn is pinned (pyproject.toml); tests/gateway check uploads byte for byte and the timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.errors import envelope

log = logging.getLogger(__name__)


class GatewayHttpProtocol(HttpToolsProtocol):
    head_timeout: float = 30.0  # set from REQUEST_HEADER_TIMEOUT_SECONDS by gateway.app.create_app
    _head_timer: asyncio.TimerHandle | None = None
    _head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_started = False
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a new request's cycle (not an upgrade)
            self.cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.body = cycle.body + body if cycle.body else body  # type: ignore[assignment]
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            log.info("closing a connection whose request head took over %g s", self.head_timeout)
            message = (
                f"The request line and headers did not arrive within {self.head_timeout:g} s "
                "(REQUEST_HEADER_TIMEOUT_SECONDS)."
            )
            body = json.dumps(envelope(message, status=408, code="request_timeout")).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


class _HeadWithBody:
    """The transport as one response cycle sees it (uvicorn's cycle only writes, closes and asks
    ``is_closing``): its first write, the head, waits for the next write or the end of this loop
    turn, then both go out in one send."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._first = True
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._first:
            self._first = False
            self._held = data
            self._loop.call_soon(self._flush)
        elif self._held is not None:
            held, self._held = self._held, None
            self._transport.writelines((held, data))
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()
