"""Routes whose handlers take the raw ASGI exchange, and the fast lane that serves them.

The proxying routes read the request stream and send the response themselves, with no body
parsing or buffering in between. Each is still a FastAPI route (OpenAPI, /docs, 405 for other
methods, and the general path for any request the fast lane does not recognise, e.g. under a
root path), but ``RawRoutes``, in front of FastAPI, answers an exact method + path match
directly: FastAPI's middleware, exception, routing and endpoint layers cost about a sixth of the
gateway's CPU on a proxied 1 MB upload (docs/benchmarks.md). Either way the same handler runs
and errors become the same envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import APIError, internal_error

log = logging.getLogger(__name__)

RawHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class RawExchange(Response):
    def __init__(self, handler: RawHandler) -> None:  # no body to render: the handler sends it
        self.handler = handler
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def raw_route(router: APIRouter, method: str, path: str, **route: Any) -> Callable[[RawHandler], RawHandler]:
    """Declare ``path`` on ``router`` (``route``: FastAPI's route options) and serve it with the handler.

    The handler finds the application's state as ``scope["app"].state``.
    """

    def register(handler: RawHandler) -> RawHandler:
        async def endpoint() -> Response:
            return RawExchange(handler)

        route.setdefault("name", handler.__name__)  # FastAPI derives the operationId from it
        router.add_api_route(path, endpoint, methods=[method], response_class=Response, **route)
        router.routes[-1].raw_handler = handler  # type: ignore[attr-defined]
        return handler

    return register


def raw_routes(*routers: APIRouter) -> dict[tuple[str, str], RawHandler]:
    """The (method, path) -> handler table of the raw routes declared on ``routers``."""
    table = {}
    for router in routers:
        for route in router.routes:
            handler = getattr(route, "raw_handler", None)
            if isinstance(route, APIRoute) and handler is not None:
                table.update({(method, route.path): handler for method in route.methods})
    return table


class RawRoutes:
    """Serve the raw routes in ``routes`` (see ``raw_routes``); pass anything else on to ``app``.

    Errors become the envelope here, as FastAPI's handlers would make them.
    """

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], RawHandler]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._routes.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await handler(scope, receive, tracking_send)
        except APIError as exc:
            if started:
                raise
            await exc.response()(scope, receive, send)
        except Exception as exc:
            log.exception("unhandled error")
            if started:
                raise
            await internal_error(exc).response()(scope, receive, send)
