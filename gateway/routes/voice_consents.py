"""OpenAI's voice consent routes. The gateway composes the upload: the recording is transcribed by
the ASR service and must say the consent statement (unless VOICE_CONSENT_CHECK is off); the TTS
service keeps the consent record. The other routes are relayed to the TTS service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from common.api_types import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    ConsentCreate,
    ConsentForm,
    ConsentUpdate,
    file_bytes,
)
from common.resources import VoiceConsentDeletedResource, VoiceConsentListResource, VoiceConsentResource
from gateway.backends import ASR, JSON_CONTENT, TTS
from gateway.consent import STATEMENTS, check_statement, statement_for, transcribe
from gateway.media_types import MULTIPART, form_only, json_only
from gateway.openapi import error_responses

router = APIRouter(tags=["audio"])
_STATEMENTS = "; ".join(f'{code}: "{text}"' for code, text in STATEMENTS.items())


@router.post(
    "/v1/audio/voice_consents",
    summary="Upload a voice consent recording",
    description="A recording of the voice's owner reading the consent statement of `language`, which authorizes "
    "creating custom voices (POST /v1/audio/voices). The recording is transcribed by this server's ASR service and "
    f"must say the statement (at most a quarter of its words wrong); statements: {_STATEMENTS}. The recording "
    "itself is not kept. VOICE_CONSENT_CHECK=false skips the check (for operators who clone only their own voice).",
    response_class=Response,
    responses={
        200: {"model": VoiceConsentResource, "description": "The consent."},
        **error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    },
    dependencies=[Depends(form_only("recording"))],
)
async def create_voice_consent(
    form: Annotated[ConsentForm, Form(media_type=MULTIPART)], request: Request, asr: ASR, tts: TTS
) -> Response:
    recording = await file_bytes(form.recording, "recording")
    verified = request.app.state.settings.voice_consent_check
    if verified:
        language, statement = statement_for(form.language)
        check_statement(statement, await transcribe(asr, request, recording, form.recording.filename, language))
    body = ConsentCreate(name=form.name, language=form.language, verified=verified).model_dump_json()
    return await tts.relay(request, headers=JSON_CONTENT, body=body.encode())


@router.get(
    "/v1/audio/voice_consents",
    summary="List voice consents",
    description="Newest first; page on with `after` set to the previous page's `last_id`.",
    response_class=Response,
    responses={
        200: {"model": VoiceConsentListResource, "description": "A page of consents."},
        **error_responses(400, 502, 504),
    },
)
async def list_voice_consents(
    request: Request,
    tts: TTS,
    after: Annotated[str | None, Query(max_length=256, description="The id the previous page ended with.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=LIST_LIMIT_MAX, description="How many consents to return (1 to 100).")
    ] = LIST_LIMIT_DEFAULT,
) -> Response:
    return await tts.relay(request)


@router.get(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Retrieve a voice consent",
    response_class=Response,
    responses={200: {"model": VoiceConsentResource, "description": "The consent."}, **error_responses(404, 502, 504)},
)
async def get_voice_consent(consent_id: str, request: Request, tts: TTS) -> Response:
    return await tts.relay(request)


@router.post(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Rename a voice consent",
    description="Changes the consent's name only; the recording and its check stand.",
    response_class=Response,
    responses={
        200: {"model": VoiceConsentResource, "description": "The renamed consent."},
        **error_responses(400, 404, 408, 413, 415, 502, 504),
    },
    dependencies=[Depends(json_only)],
)
async def rename_voice_consent(consent_id: str, body: ConsentUpdate, request: Request, tts: TTS) -> Response:
    return await tts.relay(request, headers=JSON_CONTENT, body=body.model_dump_json().encode())


@router.delete(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Delete a voice consent",
    description="Withdraws the consent: the custom voices created with it are deleted too.",
    response_class=Response,
    responses={
        200: {"model": VoiceConsentDeletedResource, "description": "Deleted."},
        **error_responses(404, 502, 504),
    },
)
async def delete_voice_consent(consent_id: str, request: Request, tts: TTS) -> Response:
    return await tts.relay(request)
