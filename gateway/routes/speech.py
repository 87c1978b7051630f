"""POST /v1/audio/speech: validated, then proxied to TTS with the audio relayed as it is made."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest, speech_backend_body
from gateway.bodies import parse_json, read_body, require_json
from gateway.openapi import SPEECH_REF, error_responses

router = APIRouter(tags=["audio"])
JSON_CONTENT = [("content-type", "application/json")]


def parse_speech(body: bytes) -> SpeechRequest:
    return parse_json(SpeechRequest, body)


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
