"""GET /v1/audio/voices: the voices a client may pass, as the TTS service reports them."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.types import Receive, Scope, Send

from gateway.backends import ClientWatch, forward
from gateway.openapi import error_responses
from gateway.routes.raw import raw_route

router = APIRouter(tags=["audio"])


@raw_route(
    router,
    "GET",
    "/v1/audio/voices",
    summary="List voices",
    description="Extension: the model's built-in speaker names, plus the OpenAI voice names and the speaker "
    "each maps to. Proxied to the TTS service.",
    responses={
        200: {"description": "Voices.", "content": {"application/json": {"schema": {"type": "object"}}}},
        **error_responses(502, 503, 504),
    },
)
async def list_voices(scope: Scope, receive: Receive, send: Send) -> None:
    state = scope["app"].state
    watch = ClientWatch(receive)
    watch.start()
    await forward(state.tts, send, watch, "GET", "/v1/audio/voices", overall_timeout=state.settings.tts_timeout_seconds)
