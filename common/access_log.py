"""One access line per request, written by the app rather than by the server: every service logs
it the same way, with the request id (the record's prefix, set by ``RequestIdMiddleware`` outside
this one) and the tag of the key the request was let in with (``common.auth``), never the key."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.auth import KEY_TAG_STATE

log = logging.getLogger("access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status: int | None = None
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403  # closed before the upgrade: what the server answers the handshake
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope.get("method", "WEBSOCKET")
            tag = scope.get("state", {}).get(KEY_TAG_STATE)
            log.info(
                '"%s %s" %s %.1f ms%s',
                method,
                scope["path"],
                status if status is not None else "-",
                (time.perf_counter() - started) * 1000,
                f" key {tag}" if tag else "",
            )
