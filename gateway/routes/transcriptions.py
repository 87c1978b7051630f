"""POST /v1/audio/transcriptions and /v1/audio/translations: validated, then streamed to ASR."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from common.api_types import (
    ASR_MODELS,
    GRANULARITIES,
    TRANSCRIPTION_FORMATS,
    TRANSLATION_FORMATS,
)
from common.languages import WHISPER_LANGUAGES
from gateway.openapi import error_responses
from gateway.upload import Upload

router = APIRouter(tags=["audio"])
_PATHS = {"transcribe": "/v1/audio/transcriptions", "translate": "/v1/audio/translations"}  # same on the ASR service


async def _proxy(request: Request, task: Literal["transcribe", "translate"]) -> Response:
    state = request.app.state
    upload = Upload(request, state.settings, task)
    try:
        await upload.prepare()
        return await state.asr.proxy(
            request,
            "POST",
            _PATHS[task],
            headers=upload.headers(),
            body=upload.body,
            replayable=not upload.streaming,
            body_read=upload.body_read,
        )
    finally:
        await upload.aclose()  # the backend has had the whole body by the time it answers


# --- OpenAPI: the multipart form and the responses, written out because the body is read as a stream.

_COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "file": {
        "type": "string",
        "format": "binary",
        "description": "The audio file: any container/codec ffmpeg decodes (flac, mp3, mp4, m4a, ogg, wav, webm, ...).",
    },
    "model": {
        "type": "string",
        "enum": list(ASR_MODELS),
        "description": "Public ASR model id; both map to the WhisperX model configured on the ASR service.",
    },
    "prompt": {"type": "string", "description": "Initial prompt to guide style or vocabulary."},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1, "default": 0, "description": "Sampling temperature."},
    "stream": {
        "type": "boolean",
        "default": False,
        "description": "Extension: send `text/event-stream` events (`transcript.text.delta`, then "
        "`transcript.text.done`) as segments are ready.",
    },
}
_TRANSCRIPTION_ONLY: dict[str, dict[str, Any]] = {
    "language": {
        "type": "string",
        "enum": sorted(WHISPER_LANGUAGES),
        "description": "ISO-639-1 code of the spoken language; omit it to auto-detect.",
    },
    "advanced": {
        "type": "boolean",
        "default": False,
        "description": "true: word alignment and (if `diarize`) speaker diarization. Booleans also accept 1/0, yes/no.",
    },
    "diarize": {
        "type": "boolean",
        "default": True,
        "description": "Speaker diarization; effective only with advanced=true; needs HF_TOKEN on the ASR service.",
    },
    "min_speakers": {"type": "integer", "minimum": 1, "description": "Lower bound for diarization (<= max_speakers)."},
    "max_speakers": {"type": "integer", "minimum": 1, "description": "Upper bound for diarization."},
    "timestamp_granularities[]": {
        "type": "array",
        "items": {"type": "string", "enum": list(GRANULARITIES)},
        "default": ["segment"],
        "description": "`word` adds word timestamps (implies alignment).",
    },
}

_SEGMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "start": {"type": "number"},
        "end": {"type": "number"},
        "text": {"type": "string"},
        "speaker": {"type": "string"},
    },
}
_WORD = {
    "type": "object",
    "properties": {"word": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"}},
}
# anyOf: a plain {"text"} answer is also a valid (sparse) verbose_json object.
_JSON_RESULT = {
    "anyOf": [
        {"title": "json", "type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
        {
            "title": "verbose_json",
            "type": "object",
            "properties": {
                "task": {"type": "string", "enum": ["transcribe", "translate"]},
                "language": {"type": "string", "example": "english"},
                "duration": {"type": "number"},
                "text": {"type": "string"},
                "segments": {"type": "array", "items": _SEGMENT},
                "words": {"type": "array", "items": _WORD},
            },
        },
        {
            "title": "advanced json / diarized_json",
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "language": {"type": "string"},
                "segments": {"type": "array", "items": _SEGMENT},
                "diarization": {"type": "array", "items": {"type": "object"}},
                "speakers": {"type": "array", "items": {"type": "string"}},
            },
        },
    ]
}


def _openapi(task: Literal["transcribe", "translate"]) -> dict[str, Any]:
    formats = TRANSCRIPTION_FORMATS if task == "transcribe" else TRANSLATION_FORMATS
    properties = dict(_COMMON_FIELDS)
    properties["response_format"] = {
        "type": "string",
        "enum": list(formats),
        "default": "json",
        "description": "text, srt and vtt are sent as text/plain.",
    }
    if task == "transcribe":
        properties.update(_TRANSCRIPTION_ONLY)
    # Swagger UI sends fields in this order: the file last lets the upload stream straight through.
    properties["file"] = properties.pop("file")
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file", "model"], "properties": properties},
                    "encoding": {"timestamp_granularities[]": {"style": "form", "explode": True}},
                }
            },
        },
        "responses": {
            "200": {
                "description": "The transcription, in the requested response_format.",
                "content": {
                    "application/json": {"schema": _JSON_RESULT},
                    "text/plain": {
                        "schema": {"type": "string"},
                        "example": "1\n00:00:00,000 --> 00:00:03,000\nHello there.\n\n",
                    },
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": 'data: {"type": "transcript.text.delta", "delta": "Hello"}\n\n'
                        'data: {"type": "transcript.text.done", "text": "Hello there."}\n\n',
                    },
                },
            },
        },
    }


_ERRORS = error_responses(400, 408, 413, 415, 429, 502, 503, 504)


@router.post(
    _PATHS["transcribe"],
    summary="Transcribe audio",
    description="OpenAI-compatible transcription with WhisperX; `advanced=true` adds alignment and diarization. "
    "The upload streams to the ASR service as it arrives.",
    response_class=Response,
    responses=_ERRORS,
    openapi_extra=_openapi("transcribe"),
)
async def create_transcription(request: Request) -> Response:
    return await _proxy(request, "transcribe")


@router.post(
    _PATHS["translate"],
    summary="Translate audio into English",
    description="OpenAI-compatible translation (WhisperX task `translate`).",
    response_class=Response,
    responses=_ERRORS,
    openapi_extra=_openapi("translate"),
)
async def create_translation(request: Request) -> Response:
    return await _proxy(request, "translate")
