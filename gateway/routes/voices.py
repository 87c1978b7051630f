"""/v1/audio/voices: the voices a client may pass (built-in and custom), and OpenAI's custom voice
creation and deletion, proxied to the TTS service, which computes and keeps the voices."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from common.api_types import MAX_NAME_CHARS, VoiceDeletedResource, VoiceResource, parse_voice_form
from gateway.bodies import encode_form, read_voice_form
from gateway.openapi import error_responses, json_response, multipart_body

router = APIRouter(tags=["audio"])


@router.get(
    "/v1/audio/voices",
    summary="List voices",
    description="Extension: the model's built-in speaker names, the OpenAI voice names and the speaker each maps "
    'to, and the custom voices (`custom`: OpenAI\'s VoiceResource, usable as `voice: {"id": ...}`). Proxied to the '
    "TTS service; never loads a model.",
    response_class=Response,
    responses={
        200: {"description": "Voices.", "content": {"application/json": {"schema": {"type": "object"}}}},
        **error_responses(502, 503, 504),
    },
)
async def list_voices(request: Request) -> Response:
    state = request.app.state
    return await state.tts.proxy(request, "GET", "/v1/audio/voices", timeout=state.settings.tts_timeout_seconds)


@router.post(
    "/v1/audio/voices",
    summary="Create a custom voice",
    description="Clones a voice from 3 to 30 s of one person speaking, with the id of a consent recording "
    "(POST /v1/audio/voice_consents). XTTS computes the voice's conditioning from the sample; the voice is then "
    'usable in speech requests as `voice: {"id": "voice_..."}` or as the id string. Needs TTS_ENGINE=coqui.',
    response_class=Response,
    responses={
        200: json_response(VoiceResource, "The new voice."),
        **error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    },
    openapi_extra=multipart_body(
        {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NAME_CHARS,
                "description": "The name of the new voice.",
            },
            "consent": {
                "type": "string",
                "minLength": 1,
                "description": "The consent recording ID (for example, `cons_1234`).",
            },
            "audio_sample": {
                "type": "string",
                "format": "binary",
                "description": "3 to 30 s of the voice, at most 10 MiB: any container/codec ffmpeg decodes "
                "(wav, flac, mp3, ogg, aac, webm, mp4, ...).",
            },
        },
        ["name", "audio_sample", "consent"],
    ),
)
async def create_voice(request: Request) -> Response:
    state = request.app.state
    form = await read_voice_form(request, "audio_sample")
    params = parse_voice_form(form.fields)
    sample = form.require_file()
    fields = {"name": params.name, "consent": params.consent}
    content_type, body = encode_form(fields, "audio_sample", form.file_name or "audio_sample", sample)
    return await state.tts.proxy(
        request,
        "POST",
        "/v1/audio/voices",
        headers=[("content-type", content_type)],
        body=body,
        timeout=state.settings.tts_timeout_seconds,
    )


@router.delete(
    "/v1/audio/voices/{voice_id}",
    summary="Delete a custom voice",
    description="Its consent stays; deleting a consent deletes its voices.",
    response_class=Response,
    responses={200: json_response(VoiceDeletedResource, "Deleted."), **error_responses(404, 502, 504)},
)
async def delete_voice(voice_id: str, request: Request) -> Response:
    state = request.app.state
    path = f"/v1/audio/voices/{quote(voice_id, safe='')}"
    return await state.tts.proxy(request, "DELETE", path, timeout=state.settings.tts_timeout_seconds)
