"""POST /v1/audio/transcriptions and /v1/audio/translations: receive, validate, transcribe, shape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from asr import formats
from asr.known_speakers import decode_references
from asr.logprobs import between
from asr.transcribe import Pipeline, Task, diarization_token_error
from asr.upload import spooled_upload
from common.api_types import TranscriptionForm, TranslationForm, parse_form, transcription_form
from common.disconnect import cancel_on_disconnect
from common.errors import APIError
from common.lifecycle import ModelRuntime, held_until_sent
from common.service import model_label
from common.sse import sse

log = logging.getLogger(__name__)
router = APIRouter()
Held = Annotated[AsyncExitStack, Depends(held_until_sent)]


async def _events(pipeline: Pipeline, first: list[dict], rest: AsyncIterator[list[dict]]) -> AsyncIterator[bytes]:
    """transcript.text.delta per finished segment, then transcript.text.done.

    Starlette cancels this stream when the client disconnects; the cancellation stops the
    window being transcribed (``Session.run``)."""
    sent = 0  # characters of the transcript sent so far

    def deltas(segments: list[dict]) -> list[bytes]:
        nonlocal sent
        tokens = formats.logprobs(pipeline.transcript)  # with include[]=logprobs, the transcript's so far
        events = []
        for segment in segments:
            if segment["text"]:
                text = (" " if sent else "") + segment["text"]
                mine = between(tokens, sent, sent + len(text)) if tokens is not None else None
                events.append(formats.delta_event(text, mine))
                sent += len(text)
        return events

    for event in deltas(first):
        yield event
    try:
        async for segments in rest:
            for event in deltas(segments):
                yield event
    except APIError as exc:  # after the 200 went out, errors travel as an event the SDK raises
        yield sse({"type": "error", **exc.body()})
        return
    except asyncio.CancelledError:
        log.info("client disconnected; transcription stream cancelled")
        raise
    yield formats.done_event(pipeline.transcript)


async def _transcribe(request: Request, held: AsyncExitStack, task: Task) -> Response:
    """Everything the request holds (the spooled file, the inference slot, the decoder) is in
    ``held``, released once the response has been sent or the client has gone."""
    settings = request.app.state.settings
    runtime: ModelRuntime = request.app.state.runtime
    upload = await held.enter_async_context(spooled_upload(request, settings.max_form_field_bytes))
    if task == "translate":
        params = transcription_form(parse_form(TranslationForm, upload.fields))
    else:
        params = parse_form(TranscriptionForm, upload.fields)
    audio = await upload.require_file()
    if params.needs_diarization and settings.hf_token is None:
        raise diarization_token_error()  # before waiting for a slot or decoding anything
    known = await asyncio.to_thread(decode_references, params)  # a bad reference is refused at once
    session = await held.enter_async_context(runtime.session(request.receive, task=task))
    pipeline = Pipeline(settings, session, params, task, known)
    windows = pipeline.run(audio)
    held.push_async_callback(windows.aclose)
    async with cancel_on_disconnect(request.receive):
        # The first window runs before any response starts, so bad audio or a model that cannot
        # load still gets a proper HTTP status, streamed or not.
        first = await anext(windows)
        if not params.stream:
            async for _ in windows:
                pass
            return formats.render(pipeline.transcript, params)
    return StreamingResponse(
        _events(pipeline, first, windows), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request, held: Held) -> Response:
    """The public multipart fields, forwarded by the gateway byte for byte."""
    return await _transcribe(request, held, "transcribe")


@router.post("/v1/audio/translations")
async def translations(request: Request, held: Held) -> Response:
    """OpenAI's translation route: WhisperX task ``translate`` into English."""
    return await _transcribe(request, held, "translate")


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str | int]:
    """Liveness only; never loads a model. ``engine``/``serves`` feed the gateway's /v1/models."""
    return {
        "status": "ok",
        "model": request.app.state.runtime.state,
        "engine": "whisperx",
        "serves": f"WhisperX {model_label(request.app.state.settings.whisperx_model)}",
        "realtime_sessions": request.app.state.realtime_sessions,
    }
