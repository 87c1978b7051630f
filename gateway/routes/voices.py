"""GET /v1/audio/voices: the voices a client may pass, as the TTS service reports them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.openapi import error_responses

router = APIRouter(tags=["audio"])


@router.get(
    "/v1/audio/voices",
    summary="List voices",
    description="Extension: the model's built-in speaker names, plus the OpenAI voice names and the speaker "
    "each maps to. Proxied to the TTS service.",
    response_class=Response,
    responses={
        200: {"description": "Voices.", "content": {"application/json": {"schema": {"type": "object"}}}},
        **error_responses(502, 503, 504),
    },
)
async def list_voices(request: Request) -> Response:
    state = request.app.state
    return await state.tts.proxy(request, "GET", "/v1/audio/voices", timeout=state.settings.tts_timeout_seconds)
