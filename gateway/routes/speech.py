"""POST /v1/audio/speech: validated, then proxied to TTS with the audio relayed as it is made."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest, speech_backend_body
from common.errors import APIError, validation_error
from gateway.openapi import SPEECH_REF, error_responses
from gateway.upload import body_chunks

router = APIRouter(tags=["audio"])
JSON_CONTENT = [("content-type", "application/json")]


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole (small) request body, or 413 past ``limit``."""
    body = bytearray()
    async for chunk, _ in body_chunks(request, timeout):
        body += chunk
        if len(body) > limit:
            raise APIError(413, f"The JSON body exceeds {limit} bytes (MAX_JSON_BYTES).", code="request_too_large")
    return bytes(body)


def require_json(content_type: str | None) -> None:
    """A JSON body, or no Content-Type at all; a form (``curl -d`` without ``-H``) or anything else is 415."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise APIError(
            415,
            f"Content-Type must be application/json (got {content_type[:100]}): send the request as a JSON body.",
            code="unsupported_media_type",
        )


def parse_speech(body: bytes) -> SpeechRequest:
    try:
        request = SpeechRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(RequestValidationError(exc.errors(include_url=False))) from None
    return request


@router.post(
    "/v1/audio/speech",
    summary="Generate speech",
    description="OpenAI-compatible text-to-speech with Coqui XTTS. The audio is sent as it is synthesized "
    "(chunked transfer), as OpenAI does; `stream=false` sends one body with Content-Length. `stream_format=sse` "
    "sends `speech.audio.delta` events (base64 audio) and a final `speech.audio.done`. Unknown JSON fields are "
    "ignored.",
    response_class=Response,
    responses=error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": SPEECH_REF,
                    "example": SpeechRequest.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                }
            },
        },
        "responses": {
            "200": {
                "description": "The audio, in the requested response_format (pcm: raw 24 kHz 16-bit LE mono).",
                "content": {
                    **{
                        media_type: {"schema": {"type": "string", "format": "binary"}}
                        for media_type in dict.fromkeys(SPEECH_CONTENT_TYPES.values())
                    },
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": 'data: {"type": "speech.audio.delta", "audio": "UklGRv////9XQVZF..."}\n\n'
                        'data: {"type": "speech.audio.done", "usage": {"input_tokens": 12, "output_tokens": 0, '
                        '"total_tokens": 12}}\n\n',
                    },
                },
            }
        },
    },
)
async def create_speech(request: Request) -> Response:
    require_json(request.headers.get("content-type"))
    settings = request.app.state.settings
    body = await read_body(request, settings.max_json_bytes, settings.request_body_timeout_seconds)
    payload = json.dumps(speech_backend_body(parse_speech(body))).encode()
    return await request.app.state.tts.proxy(
        request, "POST", "/v1/audio/speech", headers=JSON_CONTENT, body=payload, timeout=settings.tts_timeout_seconds
    )
