"""The TTS service's FastAPI app: /v1/audio/speech, /v1/audio/voices, /healthz, and the custom
voice routes of ``custom_voices`` (internal routes)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest
from common.disconnect import cancel_on_disconnect
from common.errors import APIError, install_error_handlers
from common.lifecycle import ModelRuntime, Session, held_until_sent
from common.resources import VoiceChoice, VoiceList
from common.service import install_backend_middleware
from common.sse import sse
from coqui_tts import custom_voices
from coqui_tts.engines import EngineSpec, engine_spec
from coqui_tts.settings import SERVICE, Settings
from coqui_tts.store import VoiceStore
from coqui_tts.synthesize import plan, render
from coqui_tts.voices import map_voices

log = logging.getLogger(__name__)
router = APIRouter()
Held = Annotated[contextlib.AsyncExitStack, Depends(held_until_sent)]


async def _audio(session: Session, pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Encoded audio pieces, each synthesized in a worker thread as it is asked for."""
    try:
        while (data := await session.run(next, pieces, None)) is not None:
            yield data
    except (asyncio.CancelledError, GeneratorExit):  # the response was dropped; Session.run stopped the worker
        log.info("synthesis stopped: the client went away")
        raise


async def _events(audio: AsyncIterator[bytes], text: str) -> AsyncIterator[bytes]:
    """OpenAI's speech stream events: speech.audio.delta per piece of audio, then speech.audio.done.

    Usage counts the input's characters: the engines read characters, not tokens, and emit none."""
    try:
        async for data in audio:
            yield sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
    except APIError as exc:  # after the 200 went out, errors travel as an event
        yield sse({"type": "error", **exc.body()})
        return
    usage = {"input_tokens": len(text), "output_tokens": 0, "total_tokens": len(text)}
    yield sse({"type": "speech.audio.done", "usage": usage})


@router.post("/v1/audio/speech", response_model=None)
async def speech(body: SpeechRequest, request: Request, held: Held) -> Response:
    """The inference slot and the synthesis belong to ``held``: released once the response has
    been sent or the client has gone, however far the audio got."""
    state = request.app.state
    spec: EngineSpec = state.engine_spec
    settings: Settings = state.settings
    custom = await asyncio.to_thread(custom_voices.custom_voice, request, body)  # an unknown one never waits
    session = await held.enter_async_context(state.runtime.session(request.receive, task="speak"))
    async with cancel_on_disconnect(request.receive):
        engine = await session.model(spec.key, spec.load, setting=spec.setting, kind=spec.kind)
        speech_plan = await session.run(plan, engine, body, settings.voice_map, settings.default_language, custom)
    pieces = render(engine, speech_plan, session.token)
    held.callback(pieces.close)
    held.push_async_callback(session.stop)  # runs first: the worker must be done with ``pieces``
    if body.stream_format == "sse":
        return StreamingResponse(
            _events(_audio(session, pieces), body.input),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    media_type = SPEECH_CONTENT_TYPES[body.response_format]
    if body.stream:
        return StreamingResponse(_audio(session, pieces), media_type=media_type)
    async with cancel_on_disconnect(request.receive):
        content = b"".join([data async for data in _audio(session, pieces)])
    return Response(content, media_type=media_type)  # with Content-Length


@router.get("/v1/audio/voices")
async def voices(request: Request) -> VoiceList:
    """From the model's voice table and the voice store: never loads the model or waits for the
    inference slot. Custom voices are listed under ``custom``, as OpenAI's VoiceResource, and every
    voice a client may pass under ``voices`` as {id, name} (what Open WebUI's picker reads)."""
    spec: EngineSpec = request.app.state.engine_spec
    settings: Settings = request.app.state.settings
    store: VoiceStore = request.app.state.store
    table = await asyncio.to_thread(spec.table)
    custom = await asyncio.to_thread(store.voices)
    mapped = map_voices(table.speakers, settings.voice_map)
    note = mapped.note
    if not table.known:
        note = (
            f"{spec.serves} is not on this machine yet (it is fetched on the first speech request): its built-in "
            "speakers are listed once it is."
        )
    if custom and not spec.clones:
        note = f"Custom voices need TTS_ENGINE=coqui: the {settings.tts_engine} engine cannot speak them."
    openai = mapped.openai.items()
    choices = [
        *(VoiceChoice(id=name, name=f"{name} ({speaker or 'default speaker'})") for name, speaker in openai),
        *(VoiceChoice(id=name, name=name) for name in mapped.builtin if name.lower() not in mapped.openai),
        *(VoiceChoice(id=voice.id, name=voice.name) for voice in custom if spec.clones),
    ]
    return VoiceList(
        voices=choices,
        engine=settings.tts_engine,
        description=spec.serves,
        languages=table.languages,
        builtin=mapped.builtin,
        openai=mapped.openai,
        default=mapped.builtin[0] if mapped.builtin else None,
        note=note,
        custom=[voice.resource() for voice in custom],
        cloning=spec.clones,
    )


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
    runtime = ModelRuntime.from_settings(settings, SERVICE)
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
    app.state.store = VoiceStore(settings.resolved_voices_dir)
    install_backend_middleware(app, settings, SERVICE)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(custom_voices.router)
    return app
