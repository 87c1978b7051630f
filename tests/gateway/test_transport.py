"""The gateway's HTTP/1.1 transport against a real asyncio socket server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from gateway.transport import FastTransport
from tests.servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    body = b""
    if b"transfer-encoding: chunked" in head.lower():
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                body = await reader.readexactly(int(line.split(b":")[1]))
    return head, body


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    port = free_port()
    server = await asyncio.start_server(on_connect, "127.0.0.1", port)
    return server, f"http://127.0.0.1:{port}", connections


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=FastTransport(max_connections=4, max_keepalive=4))


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head, body = await _read_request(reader)
        answer = b"%s|%s" % (head.split(b" ")[1], body)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Test: yes\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()


def test_keep_alive_reuse_and_bodies() -> None:
    async def run() -> None:
        server, url, connections = await _serve(_echo)
        async with server, _client() as client:
            first = await client.post(f"{url}/a", content=b"hello")
            assert (first.status_code, first.content, first.headers["x-test"]) == (200, b"/a|hello", "yes")

            async def chunks() -> AsyncIterator[bytes]:
                yield b"abc"
                yield b""
                yield b"def"

            second = await client.post(f"{url}/b?q=1", content=chunks())  # sent chunked
            assert second.content == b"/b?q=1|abcdef"
            assert len(connections) == 1

    asyncio.run(run())


@pytest.mark.parametrize("known_length", [True, False], ids=["content-length", "chunked"])
def test_large_streamed_body_arrives_whole(known_length: bool) -> None:
    """The first chunk goes out in 64 KiB sends: every byte must still arrive, in order."""
    pieces = [bytes([i]) * size for i, size in enumerate((300_000, 65_536, 1, 200_000))]

    async def run() -> None:
        server, url, _ = await _serve(_echo)

        async def chunks() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        headers = {"content-length": str(sum(map(len, pieces)))} if known_length else {}
        async with server, _client() as client:
            response = await client.post(f"{url}/big", content=chunks(), headers=headers)
            assert response.content == b"/big|" + b"".join(pieces)

    asyncio.run(run())


def test_chunked_and_close_delimited_responses() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        await writer.drain()
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async def run() -> None:
        server, url, _ = await _serve(chunked)
        async with server, _client() as client:
            assert (await client.get(url)).content == b"abcde"
            assert (await client.get(url)).content == b"until the end"

    asyncio.run(run())


def test_truncated_response_is_an_error() -> None:
    async def dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def run() -> None:
        server, url, _ = await _serve(dies)
        async with server, _client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(url)

    asyncio.run(run())


def test_timeouts_and_refused() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def run() -> None:
        server, url, _ = await _serve(silent)
        async with server, _client() as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(url, timeout=httpx.Timeout(1, read=0.2))
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{free_port()}/")

    asyncio.run(run())
