"""Assembly of the public gateway: routes, error envelope, request ids, the shared backend connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import install_error_handlers
from common.service import RequestIdMiddleware, configure_logging
from gateway.auth import ApiKeyMiddleware
from gateway.backends import Backend, create_transport
from gateway.catalog import Catalog
from gateway.discovery import catalog_watcher
from gateway.http_protocol import GatewayHttpProtocol
from gateway.malloc import tune_malloc
from gateway.openapi import install_openapi
from gateway.routes import health, models, speech, transcriptions, voices
from gateway.routes.docs import install_docs
from gateway.routes.raw import RawRoutes, raw_routes
from gateway.settings import Settings

DESCRIPTION = """Self-hosted, OpenAI-compatible speech API: WhisperX speech-to-text and Coqui XTTS
text-to-speech. Point an OpenAI SDK's `base_url` at this server (`/v1`). Errors use the OpenAI
envelope `{"error": {"message", "type", "param", "code"}}`."""


class GatewayApp(FastAPI):
    """FastAPI behind the gateway's front: request ids, the API key, then the raw routes.

    The front is plain ASGI ahead of FastAPI's own middleware stack, so the streaming routes skip
    it (routes/raw.py); every other request goes on through FastAPI as usual.
    """

    front: ASGIApp  # set by create_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as Starlette would set it: handlers find the state there
        await self.front(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    GatewayHttpProtocol.head_timeout = settings.request_header_timeout_seconds  # one app per process

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with create_transport(settings) as transport:
            connect = settings.connect_timeout_seconds
            # ASR: no overall limit (hours of audio are legitimate), only an idle-read timeout.
            asr_timeout = httpx.Timeout(
                connect=connect,
                read=settings.asr_read_timeout_seconds,
                write=settings.asr_read_timeout_seconds,
                pool=connect,
            )
            # TTS: the overall limit is enforced around the whole exchange; reads get the same bound.
            tts_timeout = httpx.Timeout(
                connect=connect, read=settings.tts_timeout_seconds, write=settings.tts_timeout_seconds, pool=connect
            )
            app.state.asr = Backend("ASR", settings.asr_base_url, transport, asr_timeout)
            app.state.tts = Backend("TTS", settings.tts_base_url, transport, tts_timeout)
            async with catalog_watcher(
                app.state.catalog,
                {"asr": app.state.asr, "tts": app.state.tts},
                interval=settings.catalog_refresh_seconds,
                timeout=settings.ready_timeout_seconds,
            ):
                yield

    app = GatewayApp(
        title="Speech API gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = Catalog()
    install_error_handlers(app)
    front: ASGIApp = RawRoutes(
        partial(FastAPI.__call__, app), raw_routes(transcriptions.router, speech.router, voices.router)
    )
    if settings.api_key:
        front = ApiKeyMiddleware(front, api_key=settings.api_key)
    app.front = RequestIdMiddleware(front)  # outermost: a 401 or 500 carries the request id too
    for module in (models, transcriptions, speech, voices, health):
        app.include_router(module.router)
    install_docs(app)
    install_openapi(app, bearer_auth=bool(settings.api_key))
    return app


def create_worker_app() -> FastAPI:
    """The app factory each uvicorn worker process calls when WORKERS > 1."""
    tune_malloc()
    settings = Settings()
    configure_logging("gateway", settings.log_level)
    return create_app(settings)
