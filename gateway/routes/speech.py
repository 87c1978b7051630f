"""POST /v1/audio/speech: validated, then proxied to TTS with the audio relayed as it is made."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from common.api_types import SPEECH_CONTENT_TYPES, SpeechRequest, check_speech_request, speech_backend_body
from common.errors import APIError, validation_error
from gateway.backends import ClientWatch, forward
from gateway.openapi import SPEECH_REF, error_responses
from gateway.routes.raw import raw_route
from gateway.upload import BodyReader, ClientGone

router = APIRouter(tags=["audio"])
JSON_CONTENT = [(b"content-type", b"application/json")]


async def read_body(receive: Receive, limit: int, timeout: float) -> bytes:
    """The whole (small) request body, or 413 past ``limit``."""
    body = bytearray()
    read = BodyReader(receive, timeout)
    try:
        while True:
            message = await read()
            body += message.get("body", b"")
            if len(body) > limit:
                raise APIError(413, f"The JSON body exceeds {limit} bytes (MAX_JSON_BYTES).", code="request_too_large")
            if not message.get("more_body", False):
                return bytes(body)
    finally:
        read.close()


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
    return check_speech_request(request)


@raw_route(
    router,
    "POST",
    "/v1/audio/speech",
    summary="Generate speech",
    description="OpenAI-compatible text-to-speech with Coqui XTTS. With `stream=true` the audio is sent as it "
    "is synthesized (chunked transfer). Unknown JSON fields are ignored.",
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
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in dict.fromkeys(SPEECH_CONTENT_TYPES.values())
                },
            }
        },
    },
)
async def create_speech(scope: Scope, receive: Receive, send: Send) -> None:
    require_json(Headers(scope=scope).get("content-type"))
    state = scope["app"].state
    settings = state.settings
    try:
        body = await read_body(receive, settings.max_json_bytes, settings.request_body_timeout_seconds)
    except ClientGone:
        return
    payload = json.dumps(speech_backend_body(parse_speech(body))).encode()
    watch = ClientWatch(receive)
    watch.start()
    await forward(
        state.tts,
        send,
        watch,
        "POST",
        "/v1/audio/speech",
        headers=JSON_CONTENT,
        content=payload,
        overall_timeout=settings.tts_timeout_seconds,
    )
