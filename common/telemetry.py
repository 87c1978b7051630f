"""What every request leaves behind, written by the app rather than by the server, the same way in
every service: one access line, with the request id (the record's prefix, set by
``RequestIdMiddleware`` outside this one) and the tag of the key the request was let in with
(``common.auth``), never the key; and the request metrics (``common.metrics``): a count by route
template, method and status, a duration, and the requests in flight."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.auth import KEY_TAG_STATE
from common.metrics import REQUEST_SECONDS, REQUESTS, REQUESTS_IN_FLIGHT

log = logging.getLogger("access")

# The route label of a request no route took (refused before routing, such as a 401, or matching
# none, a 404): never its path, which a client makes up.
UNROUTED = "unrouted"
NO_ANSWER = 499  # the status label when no answer was sent (the client went away first), as nginx logs it
# The method label: these, or OTHER (a client may send any token as a method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET"})


def route_template(scope: Scope) -> str:
    """The template of the route that took the request (``/v1/audio/voices/{voice_id}``)."""
    return getattr(scope.get("route"), "path", None) or UNROUTED


class TelemetryMiddleware:
    """Accounts for a request as its last message goes out (or when it ends without one), so
    whoever has the whole answer finds it counted."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self.in_flight = REQUESTS_IN_FLIGHT.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status: int | None = None
        started = time.perf_counter()
        accounted = False

        def account() -> None:
            nonlocal accounted
            if accounted:
                return
            accounted = True
            self.in_flight.dec()
            seconds = time.perf_counter() - started
            method = scope.get("method", "WEBSOCKET")
            route, known_method = route_template(scope), method if method in METHODS else "OTHER"
            REQUESTS.labels(self.service, route, known_method, status or NO_ANSWER).inc()
            REQUEST_SECONDS.labels(self.service, route, known_method).observe(seconds)
            tag = scope.get("state", {}).get(KEY_TAG_STATE)
            log.info(
                '"%s %s" %s %.1f ms%s',
                method,
                scope["path"],
                status if status is not None else "-",
                seconds * 1000,
                f" key {tag}" if tag else "",
            )

        async def send_status(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403  # closed before the upgrade: what the server answers the handshake
            last = kind == "websocket.close" or (kind.endswith("response.body") and not message.get("more_body"))
            if last:
                account()
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            account()
