"""Assemble the ASR service: settings, the model runtime, routes and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from asr.realtime.routes import router as realtime_router
from asr.routes import router
from asr.settings import SERVICE, Settings
from common.errors import install_error_handlers
from common.lifecycle import ModelRuntime
from common.service import install_backend_middleware


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ModelRuntime.from_settings(settings, SERVICE)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.close()

    app = FastAPI(title="ASR service (WhisperX)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.realtime_sessions = 0  # open WebSocket sessions (MAX_REALTIME_SESSIONS)
    install_backend_middleware(app, settings, SERVICE)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(realtime_router)
    return app
