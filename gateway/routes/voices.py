"""/v1/audio/voices: the voices a client may pass (built-in and custom), and OpenAI's custom voice
creation and deletion, proxied to the TTS service, which computes and keeps the voices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from common.api_types import VoiceForm, file_bytes
from common.resources import VoiceDeletedResource, VoiceList, VoiceResource
from gateway.backends import TTS, multipart
from gateway.media_types import MULTIPART, form_only
from gateway.openapi import error_responses

router = APIRouter(tags=["audio"])


@router.get(
    "/v1/audio/voices",
    summary="List voices",
    description="Extension: every voice a client may pass as `voice` (`voices`: built-in speakers, OpenAI names, "
    "custom voices, as `{id, name}`), how each OpenAI name maps to a built-in speaker, and the custom voices "
    "(`custom`: OpenAI's VoiceResource). Proxied to the TTS service; never loads a model.",
    response_class=Response,
    responses={200: {"model": VoiceList, "description": "Voices."}, **error_responses(502, 503, 504)},
)
async def list_voices(request: Request, tts: TTS) -> Response:
    return await tts.relay(request)


@router.post(
    "/v1/audio/voices",
    summary="Create a custom voice",
    description="Clones a voice from 3 to 30 s of one person speaking, with the id of a consent recording "
    "(POST /v1/audio/voice_consents). XTTS computes the voice's conditioning from the sample; the voice is then "
    'usable in speech requests as `voice: {"id": "voice_..."}` or as the id string. Needs TTS_ENGINE=coqui.',
    response_class=Response,
    responses={
        200: {"model": VoiceResource, "description": "The new voice."},
        **error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    },
    dependencies=[Depends(form_only("audio_sample"))],
)
async def create_voice(form: Annotated[VoiceForm, Form(media_type=MULTIPART)], request: Request, tts: TTS) -> Response:
    sample = await file_bytes(form.audio_sample, "audio_sample")
    fields = {"name": form.name, "consent": form.consent}
    headers, body = multipart(fields, "audio_sample", form.audio_sample.filename or "audio_sample", sample)
    return await tts.relay(request, headers=headers, body=body)


@router.delete(
    "/v1/audio/voices/{voice_id}",
    summary="Delete a custom voice",
    description="Its consent stays; deleting a consent deletes its voices.",
    response_class=Response,
    responses={200: {"model": VoiceDeletedResource, "description": "Deleted."}, **error_responses(404, 502, 504)},
)
async def delete_voice(voice_id: str, request: Request, tts: TTS) -> Response:
    return await tts.relay(request)
