"""How much of a request body the gateway reads, and how long it waits for it: one ASGI middleware
in front of every route, whoever reads the body (FastAPI for JSON and the custom-voice forms, the
upload streamer for transcriptions).

A Content-Length above the route's limit is refused before anything is read; a body that grows past
it is refused as soon as it does (413); a client that sends nothing for REQUEST_BODY_TIMEOUT_SECONDS
while its body is due gets 408. Both are raised from the request's ``receive``: the reader stops
there and the client gets the error envelope. (Starlette's own body limit answers in plain text, not
in the envelope, when Content-Length is too large.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import APIError


@dataclass(frozen=True)
class Limit:
    bytes: int
    message: str  # what the 413 says
    param: str | None = None
    code: str = "request_too_large"


def too_large(limit: Limit) -> APIError:
    return APIError(413, limit.message, param=limit.param, code=limit.code)


class BodyLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str, str], Limit], stall_timeout: float) -> None:
        self.app = app
        self._limit_for = limit_for
        self._stall_timeout = stall_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["method"], scope["path"])
        try:
            length = _content_length(scope)
        except APIError as error:
            await error.response()(scope, receive, send)
            return
        if length is not None and length > limit.bytes:
            await too_large(limit).response()(scope, receive, send)
            return
        received = 0
        more = True

        async def guarded_receive() -> Message:
            nonlocal received, more
            if not more:  # the body is in: what follows is only the client going away
                return await receive()
            try:
                async with asyncio.timeout(self._stall_timeout):
                    message = await receive()
            except TimeoutError:
                raise APIError(
                    408,
                    f"The request body stalled: nothing arrived for {self._stall_timeout:g} s "
                    "(REQUEST_BODY_TIMEOUT_SECONDS).",
                    code="request_timeout",
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more = message.get("more_body", False)
                if received > limit.bytes:
                    raise too_large(limit)
            return message

        await self.app(scope, guarded_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise APIError(400, "Invalid Content-Length header.", code="invalid_request") from None
    return None
