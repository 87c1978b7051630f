"""POST /v1/audio/transcriptions and /v1/audio/translations: validated, then streamed to ASR."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from common.api_types import TranscriptionForm, TranslationForm
from common.resources import TRANSCRIPTION_RESPONSES, TranscriptionJson, TranscriptionVerboseJson
from gateway.backends import ASR
from gateway.openapi import error_responses, upload_body
from gateway.upload import Upload

router = APIRouter(tags=["audio"])
FILE = "The audio: any container/codec FFmpeg decodes (flac, mp3, mp4, m4a, ogg, wav, webm, ...)."
ERRORS = error_responses(400, 408, 413, 415, 429, 502, 503, 504)


def _ok(models: Any) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "model": models,
            "description": "The transcription in the requested response_format: JSON, text/plain (text, srt, vtt), "
            "or server-sent events with stream=true.",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": "1\n00:00:00,000 --> 00:00:03,000\nHi.\n\n"},
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'data: {"type": "transcript.text.delta", "delta": "Hello"}\n\n'
                    'data: {"type": "transcript.text.done", "text": "Hello there."}\n\n',
                },
            },
        },
        **ERRORS,
    }


async def _forward(request: Request, asr: ASR, form: type[TranslationForm]) -> Response:
    upload = Upload(request, request.app.state.settings, form)
    try:
        await upload.prepare()
        return await asr.proxy(
            request,
            "POST",
            request.url.path,  # the same route on the ASR service
            headers=upload.headers(),
            body=upload.body,
            replayable=not upload.streaming,
            body_read=upload.body_read,
        )
    finally:
        upload.close()  # the backend has had the whole body by the time it answers


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio",
    description="OpenAI-compatible transcription with WhisperX; `advanced=true` adds alignment and diarization. "
    "The upload streams to the ASR service as it arrives.",
    response_class=Response,
    responses=_ok(TRANSCRIPTION_RESPONSES),
    openapi_extra=upload_body(TranscriptionForm, FILE),
)
async def create_transcription(request: Request, asr: ASR) -> Response:
    return await _forward(request, asr, TranscriptionForm)


@router.post(
    "/v1/audio/translations",
    summary="Translate audio into English",
    description="OpenAI-compatible translation (WhisperX task `translate`).",
    response_class=Response,
    responses=_ok(TranscriptionJson | TranscriptionVerboseJson),
    openapi_extra=upload_body(TranslationForm, FILE),
)
async def create_translation(request: Request, asr: ASR) -> Response:
    return await _forward(request, asr, TranslationForm)
