"""A lean HTTP/1.1 httpx transport to the backends: asyncio protocols + httptools.

httpx's default transport (httpcore over anyio, parsing with h11 in pure Python) costs about half
a millisecond per request on a small machine, more than the gateway may add in total. The
backends are plain HTTP/1.1 services on a private network, so this transport does only that:
keep-alive connection pooling, streamed request bodies (``Content-Length`` or chunked), streamed
responses parsed by httptools (the parser uvicorn uses), backpressure both ways, and httpx's
connect/read/write/pool timeouts and exception types, so the code above it speaks httpx's types
(and the tests drive it through an ordinary httpx.AsyncClient).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

READ_HIGH_WATER = 1024 * 1024  # pause reading from a backend that is ahead of the client by this much
WRITE_HIGH_WATER = 1024 * 1024
# Loopback hands a send's data to the reader only when the whole send has returned, so a backend
# waited for each whole 256 KiB chunk before it could start on it. While a request is the only one
# in flight, its body goes out in 64 KiB sends, so the backend works on one piece while the
# gateway sends the next; under load whole chunks are cheaper (the extra sends cost more CPU than
# the overlap gains). The 1 MB upload at concurrency 1 went from ~420 to ~610 requests/s
# (docs/benchmarks.md).
SEND_BYTES = 64 * 1024
_CHUNKED = b"chunked"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._error: BaseException | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._wakeup: asyncio.Future[None] | None = None
        self._write_ready: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.keep_alive = False
        self._framed = False
        self.complete = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # Let a whole upload chunk sit in the send buffer instead of waiting on each 64 KiB.
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response from backend: {exc}"))
            return
        if self._buffered > READ_HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and not self._framed and exc is None:
            self.complete = True  # a body delimited by the connection closing has ended
        if not self.complete:
            what = "without sending a complete response" if self.head_done else "without sending a response"
            error = httpx.RemoteProtocolError(f"backend closed the connection {what}")
            error.__cause__ = exc
            self._error = self._error or error
        self._wake()
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    def pause_writing(self) -> None:
        self._write_ready = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)
        self._write_ready = None

    # --- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if self.status == 100:  # interim response: wait for the real one
            self.headers.clear()
            return
        self.head_done = True
        self.keep_alive = self._parser.should_keep_alive()  # only meaningful before the message ends

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True

    # --- used by the transport

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _wait(self, timeout: float | None, error: type[httpx.TimeoutException]) -> None:
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup
        except TimeoutError:
            raise error("timed out waiting for the backend") from None
        finally:
            self._wakeup = None

    async def write(self, data: bytes, timeout: float | None, *more: bytes, piecewise: bool = False) -> None:
        """Send ``data`` and ``more``; ``piecewise``: in sends of SEND_BYTES (see there)."""
        if self.closed or self.transport is None:
            raise self._error or httpx.WriteError("connection to the backend is closed")
        if piecewise:
            self._send_in_pieces((data, *more))
        elif more:
            self.transport.writelines((data, *more))
        elif data:
            self.transport.write(data)
        if self._write_ready is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._write_ready
            except TimeoutError:
                raise httpx.WriteTimeout("timed out sending to the backend") from None
            if self.closed:
                raise self._error or httpx.WriteError("connection to the backend is closed")

    def _send_in_pieces(self, parts: tuple[bytes, ...]) -> None:
        assert self.transport is not None
        batch: list[memoryview] = []
        room = SEND_BYTES
        for part in parts:
            view = memoryview(part)
            while len(view) >= room:
                batch.append(view[:room])
                self.transport.writelines(batch)
                batch, view, room = [], view[room:], SEND_BYTES
            if view:
                batch.append(view)
                room -= len(view)
        if batch:
            self.transport.writelines(batch)

    async def read_head(self, timeout: float | None) -> None:
        while not self.head_done:
            if self._error is not None:
                raise self._error
            await self._wait(timeout, httpx.ReadTimeout)

    async def body(self, timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < READ_HIGH_WATER // 4 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            elif self.complete:
                return
            elif self._error is not None:
                raise self._error
            else:
                await self._wait(timeout, httpx.ReadTimeout)

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self._error is None

    def recycle(self) -> None:
        self._reset()
        self._parser = httptools.HttpResponseParser(self)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, pool: FastTransport, connection: _Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read_timeout
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._connection.body(self._read_timeout):
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool._release(self._connection)


class FastTransport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 connections to plain-http backends."""

    def __init__(self, max_connections: int, max_keepalive: int) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._in_use = 0  # requests holding a slot
        self._max_keepalive = max_keepalive
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._idle_count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"backends are reached over plain http, not {url.scheme!r}")
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection to the backend") from None
        self._in_use += 1
        connection: _Connection | None = None
        try:
            connection = await self._connection((url.host, url.port or 80), timeouts.get("connect"))
            await self._send(connection, request, timeouts.get("write"))
            await connection.read_head(timeouts.get("read"))
        except BaseException:
            if connection is not None:
                connection.close()
            self._give_back_slot()
            raise
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=_ResponseStream(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _connection(self, key: tuple[str, int], timeout: float | None) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(lambda: _Connection(key), key[0], key[1])
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {key[0]}:{key[1]}") from None
        except OSError as exc:
            raise httpx.ConnectError("cannot connect") from exc
        return connection

    async def _send(self, connection: _Connection, request: httpx.Request, timeout: float | None) -> None:
        url = request.url
        target = url.raw_path
        lines = [request.method.encode(), b" ", target, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in request.headers.raw:
            lines += [name, b": ", value, b"\r\n"]
            if name.lower() == b"transfer-encoding" and value.lower() == _CHUNKED:
                chunked = True
        lines.append(b"\r\n")
        head = b"".join(lines)
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):  # small body known up front: one write
            await connection.write(head + b"".join([chunk async for chunk in stream]), timeout)
            return
        pending = head  # goes out with the first chunk
        async for chunk in stream:  # type: ignore[union-attr]
            if not chunk:
                continue
            piecewise = self._in_use == 1
            if chunked:
                await connection.write(pending, timeout, b"%x\r\n" % len(chunk), chunk, b"\r\n", piecewise=piecewise)
            else:
                await connection.write(pending, timeout, chunk, piecewise=piecewise)
            pending = b""
        await connection.write(pending + b"0\r\n\r\n" if chunked else pending, timeout)

    def _give_back_slot(self) -> None:
        self._in_use -= 1
        self._slots.release()

    def _release(self, connection: _Connection) -> None:
        self._give_back_slot()
        if connection.reusable() and self._idle_count < self._max_keepalive:
            connection.recycle()
            self._idle.setdefault(connection.key, []).append(connection)
            self._idle_count += 1
        else:
            connection.close()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
