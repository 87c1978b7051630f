"""A TCP proxy in front of a backend that can break the connections passing through it.

The gateway's pool keeps idle keep-alive connections; a backend may close one at any moment
(its keep-alive timeout, a restart). ``FlakyProxy`` makes that happen on demand:

* ``close_all()``: close every open connection now (the backend went away from idle sockets);
* ``doom_all()``: leave every open connection up, but close it without an answer as soon as the
  next request arrives on it (the backend closed it just as the gateway reused it: the race).

New connections are proxied normally. The proxy runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from fixtures.servers import free_port

T = TypeVar("T")


@dataclass(eq=False)
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    doomed: bool = False

    def close(self) -> None:
        self.client.close()
        self.upstream.close()


class FlakyProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.port = free_port()
        self._upstream = (upstream_host, upstream_port)
        self._pairs: set[_Pair] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.connections = 0  # connections accepted so far
        self.broken = 0  # requests that met a doomed connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return  # stopped already (a test may stop it before the context ends)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def close_all(self) -> None:
        self._call(lambda: [pair.close() for pair in list(self._pairs)])

    def doom_all(self) -> None:
        self._call(lambda: [setattr(pair, "doomed", True) for pair in self._pairs])

    def open_connections(self) -> int:
        return self._call(lambda: len(self._pairs))

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the proxy's loop and return its result."""
        done = threading.Event()
        result: list[T] = []

        def run() -> None:
            result.append(fn())
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)
        return result[0]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)  # the connections still proxied: ended, not abandoned
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, pair, requests=True), self._pump(up_reader, writer, pair)
            )
        finally:
            self._pairs.discard(pair)
            pair.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: _Pair, *, requests: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if requests and pair.doomed:
                    self.broken += 1
                    pair.close()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            pair.close()


@contextmanager
def flaky_proxy(upstream_url: str) -> Iterator[FlakyProxy]:
    host, port = upstream_url.removeprefix("http://").split(":")
    proxy = FlakyProxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
