"""Assembly of the public gateway: routes, error envelope, request ids, one client per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from common.access_log import AccessLogMiddleware
from common.errors import install_error_handlers
from common.service import RequestIdMiddleware, configure_logging
from gateway.auth import install_access
from gateway.backends import Backend, backend_client
from gateway.catalog import Catalog
from gateway.discovery import catalog_watcher
from gateway.openapi import install_openapi
from gateway.routes import health, models, realtime, speech, transcriptions, voice_consents, voices
from gateway.routes.docs import install_docs
from gateway.routes.playground import install_playground
from gateway.settings import Settings

DESCRIPTION = """Self-hosted, OpenAI-compatible speech API: WhisperX speech-to-text and Coqui XTTS
text-to-speech. Point an OpenAI SDK's `base_url` at this server (`/v1`). Errors use the OpenAI
envelope `{"error": {"message", "type", "param", "code"}}`.
Hear every voice and transcribe a file or the microphone in a browser: [the playground](playground)."""


# How public messages name each backend (never by its address).
SERVICE_NAMES = {"asr": "speech-to-text service", "tts": "text-to-speech service"}


def _timeouts(settings: Settings) -> dict[str, httpx.Timeout]:
    connect = settings.connect_timeout_seconds
    asr = settings.asr_read_timeout_seconds
    tts = settings.tts_timeout_seconds
    return {
        # ASR: no overall limit (hours of audio are legitimate), only an idle-read timeout.
        "asr": httpx.Timeout(connect=connect, read=asr, write=asr, pool=connect),
        # TTS: the overall limit is enforced around the whole exchange; reads get the same bound.
        "tts": httpx.Timeout(connect=connect, read=tts, write=tts, pool=connect),
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeouts = _timeouts(settings)
        async with AsyncExitStack() as stack:
            token = settings.backend_token.get_secret_value() if settings.backend_token is not None else None
            for name, label, url in (("asr", "ASR", settings.asr_base_url), ("tts", "TTS", settings.tts_base_url)):
                client = await stack.enter_async_context(
                    backend_client(
                        url,
                        timeouts[name],
                        max_connections=settings.backend_max_connections,
                        keepalive_seconds=settings.backend_keepalive_seconds,
                        token=token,
                    )
                )
                setattr(app.state, name, Backend(label, SERVICE_NAMES[name], client))
            await stack.enter_async_context(
                catalog_watcher(
                    app.state.catalog,
                    {"asr": app.state.asr, "tts": app.state.tts},
                    interval=settings.catalog_refresh_seconds,
                    timeout=settings.ready_timeout_seconds,
                )
            )
            yield

    app = FastAPI(
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
    install_access(app, settings)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)  # outermost: a 401 or 500 carries the request id too
    for module in (models, transcriptions, speech, voices, voice_consents, realtime, health):
        app.include_router(module.router)
    install_docs(app)
    install_playground(app)
    install_openapi(app, bearer_auth=bool(settings.api_keys))
    return app


def create_worker_app() -> FastAPI:
    """The app factory each Granian worker process calls."""
    settings = Settings()
    configure_logging("gateway", settings.log_level)
    return create_app(settings)
