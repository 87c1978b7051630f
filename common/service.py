"""What every service shares: base settings, request ids in logs, and how it is served."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.auth import backend_token_middleware
from common.metrics import install_metrics
from common.telemetry import TelemetryMiddleware

if TYPE_CHECKING:  # only the backends are served from here; the gateway imports none of their settings
    from common.lifecycle import BackendSettings

REQUEST_ID_HEADER = "x-request-id"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def model_label(model: str) -> str:
    """How /healthz names a configured model: a name as is, a local directory by its last two parts."""
    path = Path(model)
    if path.is_dir():
        return f"local model '{'/'.join(path.resolve().parts[-2:])}'"
    return model


class RequestIdMiddleware:
    """Echo the client's ``x-request-id`` (or make one) and expose it to log records; for a
    WebSocket, to the log records of the whole session (and in the handshake's answer, on servers
    that send ``websocket.accept`` headers: uvicorn does, Granian does not).

    Plain ASGI rather than BaseHTTPMiddleware so streamed bodies pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
                break
        request_id = request_id or os.urandom(16).hex()  # a uuid4's randomness, without the UUID object
        token = request_id_var.set(request_id)
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.http.response.start"):
                headers = [h for h in message.get("headers") or [] if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", encoded))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


# Control characters a client may put in what gets logged (a request path, a voice name), shown
# escaped so that one record stays one line and nobody can forge log lines. Tabs stay.
_ESCAPED = {code: f"\\x{code:02x}" for code in [*range(32), 127] if code != ord("\t")} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
}


class _RecordFilter(logging.Filter):
    """Adds the request id to each record and escapes control characters in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        # Formatted once, here: the formatter then takes the escaped text as it is. A malformed call
        # is left as it came, for the handler to report when it formats the record.
        with contextlib.suppress(Exception):
            record.msg, record.args = record.getMessage().translate(_ESCAPED), None
        return True


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RecordFilter())
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; the gateway's own lines (with request ids) say more.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def install_backend_middleware(app: FastAPI, settings: BackendSettings, service: str) -> None:
    """``GET /metrics``, and what stands in front of a backend's routes, from the inside out: the
    backend token (when one is set; /metrics is behind it too), the access line and request metrics,
    and request ids (outermost, so every line and refusal carries one)."""
    install_metrics(app)
    if settings.backend_token is not None:
        app.add_middleware(backend_token_middleware, token=settings.backend_token.get_secret_value())
    app.add_middleware(TelemetryMiddleware, service=service)
    app.add_middleware(RequestIdMiddleware)


def serve(app: FastAPI, settings: BackendSettings, service: str) -> None:
    """Run a backend the same way locally and in the Docker images (one uvicorn process)."""
    configure_logging(service, settings.log_level)
    # uvicorn drains on SIGTERM, then raises it again to end the process. With the default action
    # that kills it before its exit handlers run, which leaves their temporary files behind (torch
    # registers a folder in TMPDIR); exiting as 143 through SystemExit runs them.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # keep our handler (with request ids) instead of uvicorn's
        access_log=False,  # TelemetryMiddleware writes the access lines
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
