"""Streaming HTTP to the ASR and TTS services: one httpx client per backend.

Failures map to what a client of the public API should see: unreachable -> 502 ("the
speech-to-text service did not answer"), timeout -> 504, every connection to the backend busy ->
503, a backend's own error -> its status with its envelope (or ours around a body that is not
one). Public messages name the service, never a URL, host or port: the log lines keep those. A
backend that dies after the response has started cannot change the status any more: the gateway
logs it and aborts the client's response, so the client sees a broken transfer rather than a
silently truncated 200.

Connection reuse never fails a request: the clients drop idle connections
(``BACKEND_KEEPALIVE_SECONDS``) well before the backends close them (their
``KEEP_ALIVE_SECONDS``), and a request whose body can be sent again (JSON, a spooled upload, a
GET) is retried once when its connection fails before any response byte arrives.

Every attempt on a replica is counted by how it ended (``speech_backend_requests_total``):
``ok`` (an answer below 500, 429 aside), ``http_error`` (5xx), ``busy`` (429, passed to the
client), ``retried`` (429 or a stale connection, sent again), ``refused`` (no connection: the
replica is rested), ``timeout``, ``pool_full`` (BACKEND_MAX_CONNECTIONS in use), ``error`` (the
connection broke before an answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import Depends
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.disconnect import cancel_on_disconnect
from common.errors import APIError
from common.metrics import BACKEND_REQUESTS
from common.service import REQUEST_ID_HEADER, request_id_var
from gateway.replicas import Released, Replica, Replicas

log = logging.getLogger(__name__)

# Response headers worth passing from a backend to the client (x-request-id is set by the middleware).
PASSTHROUGH_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-disposition",
        "content-encoding",
        "content-language",
        "cache-control",
        "retry-after",
        "x-should-retry",
    }
)
ERROR_BODY_LIMIT = 64 * 1024
# A connection that fails with one of these before any response byte most likely went stale while
# idle (the backend closed it as it was being reused): the request may be sent again on a new one.
STALE_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

Headers = Sequence[tuple[str, str]]
Body = bytes | Callable[[], AsyncIterable[bytes]] | None
"""A request body: bytes, or a function returning the body's chunks (called again for a retry)."""


@contextlib.asynccontextmanager
async def backend_client(
    timeout: httpx.Timeout,
    *,
    max_connections: int,
    keepalive_seconds: float,
    token: str | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The pooled keep-alive client for one backend, all its replicas (no proxies or .netrc from the
    environment), presenting BACKEND_TOKEN on every request when there is one."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=min(max_connections, 256),
        keepalive_expiry=keepalive_seconds,
    )
    headers = backend_headers(token)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers, trust_env=False) as client:
        yield client


def backend_headers(token: str | None) -> dict[str, str]:
    """What authenticates the gateway to a backend (HTTP requests and WebSocket upgrades alike)."""
    return {"authorization": f"Bearer {token}"} if token else {}


class Backend:
    """One backend service. ``label`` names it in logs (ASR, TTS); ``service`` in public messages
    ("speech-to-text service"), which never name its URL. ``timeout`` bounds a whole exchange with
    it, streaming included (None: only the client's idle-read timeout applies)."""

    def __init__(
        self, label: str, service: str, client: httpx.AsyncClient, replicas: Replicas, timeout: float | None = None
    ) -> None:
        self.label = label
        self.service = service
        self.client = client
        self.replicas = replicas
        self.timeout = timeout
        # For requests made without the client (the realtime WebSocket): BACKEND_TOKEN, if any.
        self.auth_headers = [(name, value) for name, value in client.headers.items() if name == "authorization"]

    def count(self, replica: Replica, outcome: str) -> None:
        """One attempt on ``replica``, by how it ended (the outcomes above)."""
        BACKEND_REQUESTS.labels(self.replicas.metric_label, replica.url, outcome).inc()

    async def open(
        self, method: str, path: str, *, headers: Headers = (), body: Body = None, replayable: bool = True
    ) -> httpx.Response:
        """Send the request to a replica; return the response with its body unread (close it!).

        A replica that refuses the connection is rested and another is tried (nothing of the body
        has gone out); one that answers 429 (its queue is full) hands the request to another if
        the body can be sent again (``replayable``), and so does a stale connection, once. Failures
        are the API errors a client should see (502, 503, 504).
        """
        all_headers = [(REQUEST_ID_HEADER, request_id_var.get()), *headers]
        tried: list[Replica] = []
        replica = self.replicas.choose()
        stale_retried = False
        while replica is not None:
            sent = _Tracked(body)
            request = self.client.build_request(method, replica.url + path, headers=all_headers, content=sent.content())
            replica.in_flight += 1
            try:
                response = await self.client.send(request, stream=True)
            except httpx.PoolTimeout as exc:
                replica.in_flight -= 1
                self.count(replica, "pool_full")
                raise self.busy() from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # no connection: nothing was sent
                replica.in_flight -= 1
                self.count(replica, "timeout" if isinstance(exc, httpx.ConnectTimeout) else "refused")
                self.replicas.rest(replica)
                tried.append(replica)
                if (replayable or not sent.begun) and (other := self.replicas.choose(exclude=tried)) is not None:
                    replica = other
                    continue
                if isinstance(exc, httpx.ConnectTimeout):
                    raise self.timed_out(exc, replica) from exc
                raise self.unreachable(exc, replica) from exc
            except httpx.TimeoutException as exc:
                replica.in_flight -= 1
                self.count(replica, "timeout")
                raise self.timed_out(exc, replica) from exc
            except STALE_CONNECTION_ERRORS as exc:
                replica.in_flight -= 1
                if replayable and not stale_retried:
                    stale_retried = True
                    self.count(replica, "retried")
                    log.info("%s backend connection failed before answering (%r); retrying once", self.label, exc)
                    continue
                self.count(replica, "error")
                raise self.unreachable(exc, replica) from exc
            except httpx.TransportError as exc:
                replica.in_flight -= 1
                self.count(replica, "error")
                raise self.unreachable(exc, replica) from exc
            except BaseException:
                replica.in_flight -= 1
                raise
            response.stream = Released(response.stream, functools.partial(_release, replica))
            if response.status_code == 429 and replayable:
                other = self.replicas.choose(exclude=[*tried, replica])
                if other is not None:
                    log.info("%s backend replica %s is full (429); trying %s", self.label, replica.url, other.url)
                    self.count(replica, "retried")
                    await response.aclose()
                    tried.append(replica)
                    replica = other
                    continue
            self.count(replica, answered(response.status_code))
            return response
        raise AssertionError("a backend always has a replica")

    async def relay(self, request: Request, *, headers: Headers = (), body: Body = None) -> Response:
        """The client's request, at the same path and query on this backend (with ``body``, the
        validated one), and the backend's answer relayed."""
        path = quote(request.scope["path"]) + (f"?{request.url.query}" if request.url.query else "")
        return await self.proxy(request, request.method, path, headers=headers, body=body)

    async def proxy(
        self,
        request: Request,
        method: str,
        path: str,
        *,
        headers: Headers = (),
        body: Body = None,
        replayable: bool = True,
        body_read: asyncio.Event | None = None,
    ) -> Response:
        """Forward a request and relay the backend's response to the client as it arrives.

        ``body_read``: set once the client's request body has been read (default: already read);
        from then on a client that disconnects cancels the backend request.
        """
        deadline = None if self.timeout is None else asyncio.get_running_loop().time() + self.timeout
        try:
            async with cancel_on_disconnect(request.receive, after=body_read), asyncio.timeout_at(deadline):
                upstream = await self.open(method, path, headers=headers, body=body, replayable=replayable)
        except TimeoutError:
            raise self.timed_out() from None
        if upstream.status_code >= 400:
            return await self._error(upstream)
        passed = {name: value for name, value in upstream.headers.items() if name in PASSTHROUGH_HEADERS}
        return StreamingResponse(
            self._relay(upstream, deadline),
            status_code=upstream.status_code,
            headers=passed,
            background=BackgroundTask(upstream.aclose),  # also when the client went away
        )

    async def fetch(
        self, request: Request, method: str, path: str, *, headers: Headers = (), body: Body = None
    ) -> httpx.Response:
        """Send a request whose (small) answer the gateway needs itself rather than relays: the
        response, read whole. A client that disconnects cancels it; failures are the API errors a
        client should see, and ``error()`` turns a backend's error answer into one."""
        deadline = None if self.timeout is None else asyncio.get_running_loop().time() + self.timeout
        try:
            async with cancel_on_disconnect(request.receive), asyncio.timeout_at(deadline):
                upstream = await self.open(method, path, headers=headers, body=body)
                try:
                    await upstream.aread()
                except httpx.TimeoutException as exc:
                    raise self.timed_out(exc) from exc
                except httpx.TransportError as exc:
                    raise self.unreachable(exc) from exc
                finally:
                    await upstream.aclose()
        except TimeoutError:
            raise self.timed_out() from None
        return upstream

    def error(self, upstream: httpx.Response) -> APIError:
        """A backend's error answer (read whole) as the APIError the client should see."""
        return self._api_error(upstream, upstream.content)

    def _api_error(self, upstream: httpx.Response, body: bytes) -> APIError:
        headers = {name: value for name in ("retry-after", "x-should-retry") if (value := upstream.headers.get(name))}
        error = _envelope(body)
        if error is None:
            text = body[:2000].decode("utf-8", "replace").strip() or "no details"
            return APIError(
                upstream.status_code,
                f"The {self.service} failed (HTTP {upstream.status_code}): {text}",
                code="backend_error",
                headers=headers,
            )
        return APIError(
            upstream.status_code,
            str(error["message"]),
            param=error.get("param"),
            code=error.get("code"),
            headers=headers,
        )

    async def _relay(self, upstream: httpx.Response, deadline: float | None) -> AsyncIterator[bytes]:
        chunks = upstream.aiter_raw()
        try:
            # An empty body message sends the response head now: the ASGI server may hold the head
            # until the first body message, and the backend's first audio can take seconds.
            yield b""
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                except TimeoutError:
                    raise self._broken("exceeded the overall timeout mid-response") from None
                except httpx.TimeoutException as exc:
                    raise self._broken(f"stalled mid-response ({type(exc).__name__})") from exc
                except httpx.TransportError as exc:
                    raise self._broken(f"failed mid-response: {exc or type(exc).__name__}") from exc
                if chunk is None:
                    return
                yield chunk
        finally:
            await upstream.aclose()

    def _broken(self, what: str) -> StreamBroken:
        message = f"{self.label} backend {what}; aborting the client's response"
        log.error("%s", message)
        return StreamBroken(message)

    async def _error(self, upstream: httpx.Response) -> Response:
        """Pass a backend error through with its status, in the envelope."""
        body = bytearray()
        try:
            async for chunk in upstream.aiter_raw():
                body += chunk
                if len(body) > ERROR_BODY_LIMIT:
                    break
        except httpx.HTTPError as exc:
            log.warning("%s backend error body unreadable: %s", self.label, exc)
        finally:
            await upstream.aclose()
        return self._api_error(upstream, bytes(body)).response()

    def unreachable(self, exc: httpx.TransportError, replica: Replica) -> APIError:
        log.warning("%s backend request failed: %s [%s]", self.label, str(exc) or type(exc).__name__, replica.url)
        return APIError(502, f"The {self.service} did not answer ({_reason(exc)}).", code="backend_unreachable")

    def timed_out(self, exc: BaseException | None = None, replica: Replica | None = None) -> APIError:
        what = f" ({type(exc).__name__})" if exc is not None else ""
        where = f" at {replica.url}" if replica is not None else ""
        log.warning("%s backend timed out%s%s", self.label, what, where)
        return APIError(504, f"The {self.service} did not answer in time.", code="backend_timeout")

    def busy(self) -> APIError:
        return APIError(
            503,
            f"Too many requests in flight to the {self.service} (BACKEND_MAX_CONNECTIONS); retry shortly.",
            code="backend_busy",
            headers={"Retry-After": "1"},
        )


def answered(status: int) -> str:
    """The outcome of an attempt that got an answer with ``status``."""
    if status == 429:
        return "busy"
    return "http_error" if status >= 500 else "ok"


def _release(replica: Replica) -> None:
    replica.in_flight -= 1


class _Tracked:
    """A request body that tells whether any of it has been handed over yet."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self.begun = False

    def content(self) -> bytes | AsyncIterable[bytes] | None:
        if not callable(self._body):
            return self._body
        chunks = self._body()

        async def tracked() -> AsyncIterator[bytes]:
            self.begun = True
            async for chunk in chunks:
                yield chunk

        return tracked()


def asr_backend(request: Request) -> Backend:
    return request.app.state.asr


def tts_backend(request: Request) -> Backend:
    return request.app.state.tts


# Route parameters: the backend a route talks to.
ASR = Annotated[Backend, Depends(asr_backend)]
TTS = Annotated[Backend, Depends(tts_backend)]
JSON_CONTENT = [("content-type", "application/json")]


def multipart(
    fields: dict[str, str], file_field: str, file_name: str, data: bytes
) -> tuple[list[tuple[str, str]], bytes]:
    """A multipart/form-data body for a backend, fields before the file: (headers, body)."""
    encoded = httpx.Request("POST", "http://backend/", data=fields, files={file_field: (file_name, data)})
    return [("content-type", encoded.headers["content-type"])], encoded.read()


class StreamBroken(Exception):
    """The backend failed after the client's response had started."""


def _reason(exc: httpx.TransportError) -> str:
    """What went wrong, in words that name no address: the OS error behind it when there is one
    (connection refused, name resolution), else the kind of failure."""
    if (os_error := _os_error(exc)) is not None:
        return os_error.lower()
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed without an answer"
    return "the connection broke"


def _os_error(exc: BaseException | None, depth: int = 0) -> str | None:
    if exc is None or depth > 8:
        return None
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, BaseExceptionGroup):
        return next(filter(None, (_os_error(e, depth + 1) for e in exc.exceptions)), None)
    return _os_error(exc.__cause__ or exc.__context__, depth + 1)


def _envelope(body: bytes) -> dict | None:
    """The ``error`` object of an OpenAI error envelope, or None when ``body`` is not one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) and "message" in parsed["error"]:
        return parsed["error"]
    return None
