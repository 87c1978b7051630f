"""Assembly of the public gateway: routes, error envelope, request ids, one client per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer

from common.api_types import VOICE_FILE_MAX_BYTES
from common.errors import install_error_handlers
from common.metrics import install_metrics
from common.service import RequestIdMiddleware, configure_logging
from common.telemetry import TelemetryMiddleware
from gateway.auth import install_access
from gateway.backends import Backend, backend_client
from gateway.body_limits import BodyLimitsMiddleware, Limit
from gateway.catalog import Catalog
from gateway.client_secrets import ClientSecrets
from gateway.discovery import catalog_watcher
from gateway.openapi import install_openapi
from gateway.replicas import Replicas, parse_urls, resolving
from gateway.routes import client_secrets, health, models, realtime, speech, transcriptions, voice_consents, voices
from gateway.routes.docs import install_docs
from gateway.routes.playground import install_playground
from gateway.settings import Settings

DESCRIPTION = """Self-hosted, OpenAI-compatible speech API: WhisperX speech-to-text and Coqui XTTS
text-to-speech. Point an OpenAI SDK's `base_url` at this server (`/v1`). Errors use the OpenAI
envelope `{"error": {"message", "type", "param", "code"}}`.
Hear every voice and transcribe a file or the microphone in a browser: [the playground](playground)."""


SERVICE = "gateway"  # the service's name in logs and metrics
# How public messages name each backend (never by its address).
SERVICE_NAMES = {"asr": "speech-to-text service", "tts": "text-to-speech service"}
UPLOAD_PATHS = frozenset({"/v1/audio/transcriptions", "/v1/audio/translations"})
VOICE_FORM_PATHS = {"/v1/audio/voice_consents": "recording", "/v1/audio/voices": "audio_sample"}  # -> their file


def _timeouts(settings: Settings) -> dict[str, tuple[httpx.Timeout, float | None]]:
    """Each backend's client timeouts, and the bound on a whole exchange with it."""
    connect = settings.connect_timeout_seconds
    asr = settings.asr_read_timeout_seconds
    tts = settings.tts_timeout_seconds
    return {
        # ASR: no overall limit (hours of audio are legitimate), only an idle-read timeout.
        "asr": (httpx.Timeout(connect=connect, read=asr, write=asr, pool=connect), None),
        # TTS: the overall limit is enforced around the whole exchange; reads get the same bound.
        "tts": (httpx.Timeout(connect=connect, read=tts, write=tts, pool=connect), tts),
    }


def _body_limit(settings: Settings) -> Callable[[str, str], Limit]:
    upload_bytes = settings.max_upload_bytes
    uploads = Limit(upload_bytes, f"The upload exceeds the limit of {upload_bytes} bytes (MAX_UPLOAD_BYTES).")
    # A recording or a sample of at most 10 MiB, its few fields, and the form's boundaries and headers.
    voice_form_bytes = VOICE_FILE_MAX_BYTES + settings.max_form_field_bytes + 64 * 1024
    voice_forms = {
        path: Limit(
            voice_form_bytes,
            f"The '{field}' file is larger than {VOICE_FILE_MAX_BYTES / 2**20:g} MiB, the most this route accepts.",
            param=field,
            code="file_too_large",
        )
        for path, field in VOICE_FORM_PATHS.items()
    }
    json = Limit(settings.max_json_bytes, f"The JSON body exceeds {settings.max_json_bytes} bytes (MAX_JSON_BYTES).")

    def limit(method: str, path: str) -> Limit:
        if path in UPLOAD_PATHS:
            return uploads
        return voice_forms[path] if method == "POST" and path in voice_forms else json

    return limit


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeouts = _timeouts(settings)
        async with AsyncExitStack() as stack:
            token = settings.backend_token.get_secret_value() if settings.backend_token is not None else None
            backends = {}
            for name, label, urls in (("asr", "ASR", settings.asr_base_url), ("tts", "TTS", settings.tts_base_url)):
                timeout, overall = timeouts[name]
                replicas = Replicas(label, parse_urls(urls), rest_seconds=settings.backend_rest_seconds)
                client = await stack.enter_async_context(
                    backend_client(
                        timeout,
                        max_connections=settings.backend_max_connections,
                        keepalive_seconds=settings.backend_keepalive_seconds,
                        token=token,
                    )
                )
                backends[name] = Backend(label, SERVICE_NAMES[name], client, replicas, overall)
                setattr(app.state, name, backends[name])
            await stack.enter_async_context(
                resolving([backend.replicas for backend in backends.values()], settings.backend_resolve_seconds)
            )
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
        strict_content_type=False,  # a JSON body without Content-Type is read as JSON (json_only refuses others)
    )
    app.state.settings = settings
    app.state.catalog = Catalog()
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitsMiddleware, limit_for=_body_limit(settings), stall_timeout=settings.request_body_timeout_seconds
    )
    app.state.client_secrets = ClientSecrets(
        settings.backend_token.get_secret_value() if settings.backend_token is not None else None
    )
    install_access(app, settings, app.state.client_secrets)
    app.add_middleware(TelemetryMiddleware, service=SERVICE)
    app.add_middleware(RequestIdMiddleware)  # outermost: a 401 or 500 carries the request id too
    # With API keys, the /v1 routes declare the bearer scheme (Swagger UI's "Authorize"); the check
    # itself is the middleware's.
    keyed = [Security(HTTPBearer(auto_error=False, description="One of the API keys."))] if settings.api_keys else []
    for module in (models, transcriptions, speech, voices, voice_consents, client_secrets):
        app.include_router(module.router, dependencies=keyed)
    app.include_router(realtime.router)
    app.include_router(health.router)
    install_metrics(app)  # behind the API keys (gateway.auth)
    install_docs(app)
    install_playground(app)
    install_openapi(app)
    return app


def create_worker_app() -> FastAPI:
    """The app factory each Granian worker process calls."""
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    return create_app(settings)
