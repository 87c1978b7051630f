"""The TTS service's FastAPI app: /v1/audio/speech, /v1/audio/voices, /healthz (internal routes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest, check_speech_request
from common.errors import install_error_handlers
from common.lifecycle import Cancelled, ModelRuntime, Session
from common.service import RequestIdMiddleware, client_disconnected
from coqui_tts.engines import EngineSpec, engine_spec
from coqui_tts.engines.base import Engine
from coqui_tts.settings import Settings
from coqui_tts.synthesize import Plan, plan, render
from coqui_tts.voices import map_voices

log = logging.getLogger(__name__)
router = APIRouter()


class _ClosingStreamingResponse(StreamingResponse):
    """Close the body iterator however the response ends (a failed send included), so the
    synthesis slot is given back at once rather than when the generator is garbage-collected."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: Request, session: Session) -> AsyncIterator[None]:
    """Set the session's cancel token as soon as the client goes away."""

    async def watch() -> None:
        await client_disconnected(request.receive)
        log.info("client disconnected: stopping synthesis")
        session.token.cancel()

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()


async def _audio(session: Session, engine: Engine, speech: Plan, request: Request) -> AsyncIterator[bytes]:
    """Encoded audio pieces, each synthesized in a worker thread as it is asked for."""
    pieces = render(engine, speech, session.token)
    step: asyncio.Task[bytes | None] | None = None
    async with _cancel_on_disconnect(request, session):
        try:
            while True:
                step = asyncio.ensure_future(session.run(next, pieces, None))
                if (data := await step) is None:
                    break
                yield data
        except Cancelled:  # the disconnect watcher stopped the worker
            log.info("synthesis stopped: the client went away")
        except (asyncio.CancelledError, GeneratorExit):  # the server noticed first
            log.info("synthesis stopped: the client went away")
            raise
        finally:
            if step is not None and not step.done():
                # Give the slot up only once the worker has stopped (at its next token check),
                # even while this task is being cancelled.
                session.token.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.wait({step})
            pieces.close()


def _engine(request: Request) -> tuple[ModelRuntime, EngineSpec, Settings]:
    state = request.app.state
    return state.runtime, state.engine_spec, state.settings


@router.post("/v1/audio/speech", response_model=None)
async def speech(body: SpeechRequest, request: Request) -> Response:
    check_speech_request(body)
    runtime, spec, settings = _engine(request)
    stack = contextlib.AsyncExitStack()
    session = await stack.enter_async_context(runtime.session(request.receive))
    try:
        engine = await session.model(spec.key, spec.load, setting=spec.setting)
        speech_plan = await session.run(plan, engine, body, settings.voice_map, settings.default_language)
    except BaseException:
        await stack.aclose()
        raise
    media_type = SPEECH_CONTENT_TYPES[body.response_format]
    if body.stream:

        async def streamed() -> AsyncIterator[bytes]:
            async with stack, contextlib.aclosing(_audio(session, engine, speech_plan, request)) as audio:
                async for data in audio:
                    yield data

        return _ClosingStreamingResponse(streamed(), media_type=media_type)
    async with stack, contextlib.aclosing(_audio(session, engine, speech_plan, request)) as audio:
        content = b"".join([data async for data in audio])
    return Response(content, media_type=media_type)  # with Content-Length


@router.get("/v1/audio/voices")
async def voices(request: Request) -> dict[str, Any]:
    runtime, spec, settings = _engine(request)
    async with runtime.session(request.receive) as session:
        engine = await session.model(spec.key, spec.load, setting=spec.setting)
        listing = map_voices(engine.speakers, settings.voice_map).listing()
        return {
            "engine": settings.tts_engine,
            "description": spec.serves,
            "languages": engine.languages,
            **listing,
        }


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """Liveness only: never loads the model. ``engine``/``serves`` feed the gateway's /v1/models."""
    spec = request.app.state.engine_spec
    return {
        "status": "ok",
        "model": request.app.state.runtime.state,
        "engine": request.app.state.settings.tts_engine,
        "serves": spec.serves,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ModelRuntime.from_settings(settings)
    spec = engine_spec(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "TTS engine %s, model %s (set by %s), loaded on first request", settings.tts_engine, spec.key, spec.setting
        )
        yield
        await runtime.close()

    app = FastAPI(title="coqui-tts (internal)", lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.engine_spec = spec
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(router)
    return app
