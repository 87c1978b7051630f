"""POST /v1/audio/transcriptions and /v1/audio/translations: receive, validate, transcribe, shape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from asr import formats
from asr.transcribe import Pipeline, Transcript, diarization_token_error
from asr.upload import spooled_upload
from common.api_types import parse_transcription_form
from common.errors import APIError
from common.lifecycle import ModelRuntime
from common.service import client_disconnected, model_label

log = logging.getLogger(__name__)
router = APIRouter()
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected; its work was cancelled."""


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it (and so setting its session's cancel token) if the client goes."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(client_disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task  # Session.run waits for the worker thread to stop
    if task.cancelled():
        raise ClientGone()
    return task.result()


async def _collect(pipeline: Pipeline, path: Path) -> Transcript:
    async for _ in pipeline.run(path):
        pass
    return pipeline.transcript


class _EventStream(StreamingResponse):
    """A StreamingResponse that always runs ``on_close`` (session release, file removal),
    whether the stream finished, failed or the client went away."""

    def __init__(self, body: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(body, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]
            await self._on_close()


async def _events(
    request: Request, pipeline: Pipeline, first: list[dict], rest: AsyncIterator[list[dict]]
) -> AsyncIterator[bytes]:
    """transcript.text.delta per finished segment, then transcript.text.done."""
    sent_any = False

    def deltas(segments: list[dict]) -> list[bytes]:
        nonlocal sent_any
        events = []
        for segment in segments:
            if segment["text"]:
                events.append(formats.delta_event((" " if sent_any else "") + segment["text"]))
                sent_any = True
        return events

    for event in deltas(first):
        yield event
    try:
        while True:
            try:
                segments = await until_disconnected(request, anext(rest))
            except StopAsyncIteration:
                break
            for event in deltas(segments):
                yield event
    except APIError as exc:  # after the 200 went out, errors travel as an event the SDK raises
        yield formats.sse({"type": "error", **exc.body()})
        return
    except ClientGone:
        log.info("client disconnected; transcription stream cancelled")
    except asyncio.CancelledError:  # Starlette noticed the disconnect first
        log.info("client disconnected; transcription stream cancelled")
        raise
    yield formats.done_event(pipeline.transcript)


async def _transcribe(request: Request, task: Literal["transcribe", "translate"]) -> Response:
    settings = request.app.state.settings
    runtime: ModelRuntime = request.app.state.runtime
    async with AsyncExitStack() as stack:
        upload = await stack.enter_async_context(spooled_upload(request, settings.max_form_field_bytes))
        params = parse_transcription_form(upload.fields, task)
        path = upload.require_file()
        if params.needs_diarization and not settings.hf_token:
            raise diarization_token_error()  # before waiting for a slot or decoding anything
        session = await stack.enter_async_context(runtime.session(request.receive))
        pipeline = Pipeline(settings, session, params)
        try:
            if not params.stream:
                return formats.render(await until_disconnected(request, _collect(pipeline, path)), params)
            # The first window runs before the response starts, so bad audio or a model that
            # cannot load still gets a proper HTTP status.
            windows = pipeline.run(path)
            try:
                first = await until_disconnected(request, anext(windows))
            except BaseException:
                await windows.aclose()
                raise
            cleanup = stack.pop_all()

            async def close() -> None:
                await windows.aclose()
                await cleanup.aclose()

            return _EventStream(_events(request, pipeline, first, windows), close)
        except ClientGone:
            log.info("client disconnected; transcription cancelled")
            return Response(status_code=499)


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request) -> Response:
    """The public multipart fields (SPEC.md §2), forwarded by the gateway byte for byte."""
    return await _transcribe(request, "transcribe")


@router.post("/v1/audio/translations")
async def translations(request: Request) -> Response:
    """OpenAI's translation route: WhisperX task ``translate`` into English."""
    return await _transcribe(request, "translate")


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """Liveness only; never loads a model. ``engine``/``serves`` feed the gateway's /v1/models."""
    return {
        "status": "ok",
        "model": request.app.state.runtime.state,
        "engine": "whisperx",
        "serves": f"WhisperX {model_label(request.app.state.settings.whisperx_model)}",
    }
