"""Let a FastAPI route hand the raw ASGI exchange to a streaming handler.

The route keeps FastAPI's routing, error handlers and OpenAPI entry; the handler reads the
request stream and sends the response itself, with no body parsing or buffering in between.
"""

from __future__ import annotations

from fastapi import Response
from starlette.types import ASGIApp, Receive, Scope, Send


class RawExchange(Response):
    def __init__(self, handler: ASGIApp) -> None:  # no body to render: the handler sends it
        self.handler = handler
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)
