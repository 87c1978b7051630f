"""POST /v1/audio/speech: validated, then proxied to TTS with the audio relayed as it is made."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest
from gateway.backends import JSON_CONTENT, TTS
from gateway.media_types import json_only
from gateway.openapi import error_responses

router = APIRouter(tags=["audio"])


@router.post(
    "/v1/audio/speech",
    summary="Generate speech",
    description="OpenAI-compatible text-to-speech with Coqui XTTS. The audio is sent as it is synthesized "
    "(chunked transfer), as OpenAI does; `stream=false` sends one body with Content-Length. `stream_format=sse` "
    "sends `speech.audio.delta` events (base64 audio) and a final `speech.audio.done`. Unknown JSON fields are "
    "ignored.",
    response_class=Response,
    responses={
        200: {
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
        },
        **error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    },
    dependencies=[Depends(json_only)],
)
async def create_speech(body: SpeechRequest, request: Request, tts: TTS) -> Response:
    # Forwarded as validated: unknown fields dropped, absent ones left to the defaults.
    payload = body.model_dump_json(exclude_none=True).encode()
    return await tts.relay(request, headers=JSON_CONTENT, body=payload)
