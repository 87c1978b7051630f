"""Streaming HTTP to the ASR and TTS services over one shared pool of keep-alive connections.

Failures map to what a client of the public API should see: unreachable -> 502
(``<ASR|TTS> backend request failed: <reason>``), timeout -> 504, a backend's own error -> its
status with its envelope (or ours around a body that is not one). A backend that dies after the
response has started cannot change the status any more: the gateway logs it and aborts the
client's response, so the client sees a broken transfer rather than a silently truncated 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable

import httpx
from starlette.types import Receive, Send

from common.errors import APIError, envelope
from common.service import REQUEST_ID_HEADER, client_disconnected, request_id_var
from gateway.settings import Settings
from gateway.transport import FastTransport

log = logging.getLogger(__name__)

# Response headers worth passing from a backend to the client (x-request-id is set by the middleware).
PASSTHROUGH_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"content-disposition",
        b"content-encoding",
        b"content-language",
        b"cache-control",
        b"retry-after",
    }
)
ERROR_BODY_LIMIT = 64 * 1024
JSON_HEADERS = [(b"content-type", b"application/json")]


def create_transport(settings: Settings) -> FastTransport:
    """The one connection pool for both backends: keep-alive connections, no proxies from the environment."""
    return FastTransport(
        max_connections=settings.backend_max_connections,
        max_keepalive=min(settings.backend_max_connections, 256),
    )


class Backend:
    """One backend service (``label`` is how errors name it: ASR or TTS).

    Requests go straight to the transport with httpx's request/response types: an httpx client
    would add redirect, auth, cookie and hook handling the gateway does not use, which cost about
    a tenth of its CPU per proxied upload.
    """

    def __init__(self, label: str, base_url: str, transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout) -> None:
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._transport = transport
        self._urls: dict[str, httpx.URL] = {}  # the few paths the gateway uses, parsed once

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send the request; return the response with its body unread (close it!). Raises httpx errors."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        all_headers = [(REQUEST_ID_HEADER.encode(), request_id_var.get().encode("latin-1")), *(headers or ())]
        timeouts = (timeout or self.timeout).as_dict()
        request = httpx.Request(method, url, headers=all_headers, content=content, extensions={"timeout": timeouts})
        return await self._transport.handle_async_request(request)

    async def open(
        self,
        method: str,
        path: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
    ) -> httpx.Response:
        """``send``, with failures as the API errors a client should see (502, 504)."""
        try:
            return await self.send(method, path, headers=headers, content=content)
        except httpx.TimeoutException as exc:
            error = self.timed_out(exc)
            log.warning("%s", error.message)
            raise error from exc
        except httpx.TransportError as exc:
            message = f"{self.label} backend request failed: {_reason(exc, self.base_url)}"
            log.warning("%s", message)
            raise APIError(502, message, code="backend_unreachable") from exc

    def timed_out(self, exc: BaseException | None = None) -> APIError:
        what = f" ({type(exc).__name__})" if exc is not None else ""
        return APIError(504, f"{self.label} backend timed out{what} at {self.base_url}.", code="backend_timeout")


def _reason(exc: httpx.TransportError, base_url: str) -> str:
    text = str(exc) or type(exc).__name__
    # Name the OS error behind it (e.g. connection refused, name resolution).
    if (os_error := _os_error(exc)) is not None:
        text = f"{text} ({os_error.lower()})"
    return f"{text} [{base_url}]"


def _os_error(exc: BaseException | None, depth: int = 0) -> str | None:
    if exc is None or depth > 8:
        return None
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, BaseExceptionGroup):
        return next(filter(None, (_os_error(e, depth + 1) for e in exc.exceptions)), None)
    return _os_error(exc.__cause__ or exc.__context__, depth + 1)


class ClientWatch:
    """Cancels the request's task when the client disconnects.

    Start it only once the request body has been read: from then on ``receive`` yields nothing
    but the disconnect. Uvicorn's ``send`` does not fail after a disconnect, so without this a
    gone client would keep a backend busy.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self._done = False
        self.gone = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        await client_disconnected(self._receive)
        if not self._done and self._owner is not None:
            self.gone = True
            self._owner.cancel()

    def stop(self) -> None:
        """Call before the final ``send``: after it, ``receive`` reports a disconnect by design."""
        self._done = True
        if self._task is not None:
            self._task.cancel()


class Relay:
    """Relays one backend response to the client, chunk by chunk as it arrives."""

    def __init__(self, backend: Backend, send: Send, watch: ClientWatch) -> None:
        self.backend = backend
        self.send = send
        self.watch = watch
        self.started = False

    async def run(self, upstream: httpx.Response) -> None:
        if upstream.status_code >= 400:
            await self._error(upstream)
            return
        headers = [(name, value) for name, value in upstream.headers.raw if name.lower() in PASSTHROUGH_HEADERS]
        await self.send({"type": "http.response.start", "status": upstream.status_code, "headers": headers})
        self.started = True
        send = self.send
        stream = upstream.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        try:
            # The transport's stream itself: aiter_raw() would re-chunk and re-count every chunk.
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.TimeoutException as exc:
            raise StreamBroken(f"{self.backend.label} backend stalled mid-response ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise StreamBroken(
                f"{self.backend.label} backend failed mid-response: {exc or type(exc).__name__}"
            ) from exc
        self.watch.stop()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _error(self, upstream: httpx.Response) -> None:
        """Pass a backend error through with its status, in the envelope."""
        body = bytearray()
        try:
            async for chunk in upstream.aiter_raw():
                body += chunk
                if len(body) > ERROR_BODY_LIMIT:
                    break
        except httpx.HTTPError as exc:
            log.warning("%s backend error body unreadable: %s", self.backend.label, exc)
        status = upstream.status_code
        headers = list(JSON_HEADERS)
        if retry_after := upstream.headers.get("retry-after"):
            headers.append((b"retry-after", retry_after.encode("latin-1")))
        payload = bytes(body) if _is_envelope(body) else _wrap(self.backend.label, status, body)
        self.watch.stop()
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        self.started = True
        await self.send({"type": "http.response.body", "body": payload, "more_body": False})


class StreamBroken(Exception):
    """The backend failed after the client's response had started."""


def _is_envelope(body: bytes | bytearray) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) and "message" in parsed["error"]


def _wrap(label: str, status: int, body: bytes | bytearray) -> bytes:
    text = bytes(body[:2000]).decode("utf-8", "replace").strip() or "no details"
    message = f"{label} backend error (HTTP {status}): {text}"
    return json.dumps(envelope(message, status=status, code="backend_error")).encode()


async def forward(
    backend: Backend,
    send: Send,
    watch: ClientWatch,
    method: str,
    path: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    content: bytes | AsyncIterable[bytes] | None = None,
    overall_timeout: float | None = None,
) -> None:
    """Send one request to ``backend`` and relay its response; the whole exchange, cleaned up.

    ``watch`` must be started by the caller once the client's request body is read (for a
    streamed upload, by the body iterator at its end). Raises APIError (502/504/...) while
    nothing has been sent to the client; once the response has started, failures are logged and
    the client's response is aborted.
    """
    relay = Relay(backend, send, watch)
    try:
        async with asyncio.timeout(overall_timeout):
            upstream = await backend.open(method, path, headers=headers, content=content)
            try:
                await relay.run(upstream)
            finally:
                await upstream.aclose()
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        # The client went away: closing the upstream response above cancels the backend's work.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        log.info("client disconnected; %s backend request cancelled", backend.label)
    except StreamBroken as exc:
        log.error("%s; aborting the client's response", exc)
    except TimeoutError:
        if not relay.started:
            raise backend.timed_out() from None
        log.error("%s backend exceeded the overall timeout mid-response; aborting the client's response", backend.label)
    finally:
        watch.stop()
