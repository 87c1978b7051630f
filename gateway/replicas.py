"""The replicas behind one backend setting, and which of them takes the next request.

``ASR_BASE_URL`` / ``TTS_BASE_URL`` hold one URL or several, separated by commas. A URL whose host
is a name that resolves to several addresses stands for each of them (Compose/Swarm's
``tasks.<service>``, a Kubernetes headless Service), and names are resolved again every
BACKEND_RESOLVE_SECONDS, so replicas that come and go are followed. A name with one address, or
none right now, stays a name: the connection resolves it, as it would without replicas (a backend
that is gone is then a "cannot resolve" at once, not a wait on an address nobody answers).

Each request goes to the replica with the fewest requests in flight from this gateway, ties broken
at random. A replica that refuses a connection (or does not take one within CONNECT_TIMEOUT_SECONDS)
is rested for BACKEND_REST_SECONDS: the others are chosen first, and it is tried again afterwards.

The replica metrics (``speech_backend_replicas``, ``speech_backend_replica_up``) are kept here:
set when a name is looked up and when a replica is rested, so rests that end are seen within
BACKEND_RESOLVE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from common.metrics import BACKEND_REPLICA_UP, BACKEND_REPLICAS
from gateway.background import in_background

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Replica:
    url: str  # scheme://address:port, no trailing slash
    in_flight: int = 0
    rested_until: float = 0.0

    def resting(self, now: float) -> bool:
        return now < self.rested_until


@dataclass(frozen=True)
class _Source:
    """One configured URL: its address as given, and the name to resolve (None: nothing to resolve)."""

    url: str
    scheme: str
    host: str | None
    port: int


def _source(url: str) -> _Source:
    parts = urlsplit(url.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host: str | None = parts.hostname
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        host = None  # an address already
    if parts.scheme == "https":
        host = None  # TLS checks the name: reach it by name, whatever it resolves to
    return _Source(f"{parts.scheme}://{parts.netloc}", parts.scheme, host, port)


def parse_urls(setting: str) -> list[str]:
    """The URLs of a setting (comma-separated), validated."""
    urls = [url.strip().rstrip("/") for url in setting.split(",") if url.strip()]
    if not urls:
        raise ValueError("no URL given")
    for url in urls:
        _source(url)
    return urls


def _address_url(scheme: str, address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


class Replicas:
    def __init__(self, label: str, urls: Sequence[str], *, rest_seconds: float) -> None:
        """``label`` names the backend in logs (ASR); lower-cased, in the metrics (asr)."""
        self.label = label
        self.metric_label = label.lower()
        self._sources = [_source(url) for url in urls]
        self._rest_seconds = rest_seconds
        # Until a name is resolved (and if it never can be), its URL itself stands for it.
        self._resolved: dict[str, list[str]] = {source.url: [source.url] for source in self._sources}
        self._by_url: dict[str, Replica] = {source.url: Replica(source.url) for source in self._sources}

    @property
    def all(self) -> list[Replica]:
        return list(self._by_url.values())

    async def resolve(self) -> None:
        """Look the names up again: new addresses become replicas, vanished ones go."""
        loop = asyncio.get_running_loop()
        for source in self._sources:
            if source.host is None:
                continue
            try:
                infos = await loop.getaddrinfo(source.host, source.port, type=socket.SOCK_STREAM)
            except OSError:
                infos = []
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
            if len(addresses) > 1:
                self._resolved[source.url] = [_address_url(source.scheme, a, source.port) for a in addresses]
            else:
                self._resolved[source.url] = [source.url]
        urls = list(dict.fromkeys(url for resolved in self._resolved.values() for url in resolved))
        if set(urls) != set(self._by_url):
            log.info("%s backend replicas: %s", self.label, ", ".join(urls))
        # A replica that went stays in the exposition as down (prometheus-client cannot remove a
        # series in multiprocess mode); its counters stay too, as counters should.
        for gone in set(self._by_url) - set(urls):
            BACKEND_REPLICA_UP.labels(self.metric_label, gone).set(0)
        self._by_url = {url: self._by_url.get(url) or Replica(url) for url in urls}
        self._observe()

    def _observe(self) -> None:
        now = time.monotonic()
        BACKEND_REPLICAS.labels(self.metric_label).set(len(self._by_url))
        for url, replica in self._by_url.items():
            BACKEND_REPLICA_UP.labels(self.metric_label, url).set(0 if replica.resting(now) else 1)

    def choose(self, exclude: Sequence[Replica] = ()) -> Replica | None:
        """The replica for the next request: the fewest in flight among those not resting (or, if
        all rest, among all), ties at random; None when every replica is excluded."""
        candidates = [replica for replica in self._by_url.values() if replica not in exclude]
        if not candidates:
            return None
        now = time.monotonic()
        awake = [replica for replica in candidates if not replica.resting(now)] or candidates
        fewest = min(replica.in_flight for replica in awake)
        return random.choice([replica for replica in awake if replica.in_flight == fewest])

    def rest(self, replica: Replica) -> None:
        replica.rested_until = time.monotonic() + self._rest_seconds
        self._observe()
        log.warning("%s backend replica %s did not take a connection; resting it for %g s", self.label, replica.url,
                    self._rest_seconds)  # fmt: skip


@contextlib.asynccontextmanager
async def resolving(replica_sets: Sequence[Replicas], interval: float) -> AsyncIterator[None]:
    """Resolve now, then every ``interval`` seconds in the background, while the block runs."""
    await asyncio.gather(*(replicas.resolve() for replicas in replica_sets))

    async def again() -> None:
        while True:
            await asyncio.sleep(interval)
            for replicas in replica_sets:
                await replicas.resolve()

    async with in_background(again()):
        yield


class Released(httpx.AsyncByteStream):
    """A response body that calls ``release`` once it is closed (the request is no longer in flight)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None
