"""OpenAI's voice consent routes. The gateway composes the upload: the recording is transcribed by
the ASR service and must say the consent statement (unless VOICE_CONSENT_CHECK is off); the TTS
service keeps the consent record. The other routes are proxied to the TTS service."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response

from common.api_types import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MAX_NAME_CHARS,
    ConsentCreate,
    ConsentUpdate,
    VoiceConsentDeletedResource,
    VoiceConsentListResource,
    VoiceConsentResource,
    parse_consent_form,
)
from gateway.bodies import read_json, read_voice_form
from gateway.consent import STATEMENTS, check_statement, statement_for, transcribe
from gateway.openapi import error_responses, json_response, multipart_body, ref

router = APIRouter(tags=["audio"])
JSON_CONTENT = [("content-type", "application/json")]
_STATEMENTS = "; ".join(f'{code}: "{text}"' for code, text in STATEMENTS.items())


def _path(consent_id: str) -> str:
    return f"/v1/audio/voice_consents/{quote(consent_id, safe='')}"


@router.post(
    "/v1/audio/voice_consents",
    summary="Upload a voice consent recording",
    description="A recording of the voice's owner reading the consent statement of `language`, which authorizes "
    "creating custom voices (POST /v1/audio/voices). The recording is transcribed by this server's ASR service and "
    f"must say the statement (at most a quarter of its words wrong); statements: {_STATEMENTS}. The recording "
    "itself is not kept. VOICE_CONSENT_CHECK=false skips the check (for operators who clone only their own voice).",
    response_class=Response,
    responses={
        200: json_response(VoiceConsentResource, "The consent."),
        **error_responses(400, 408, 413, 415, 429, 502, 503, 504),
    },
    openapi_extra=multipart_body(
        {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NAME_CHARS,
                "description": "The label to use for this consent recording.",
            },
            "language": {
                "type": "string",
                "description": "The BCP 47 language tag of the consent phrase (for example, `en-US`).",
                "example": "en-US",
            },
            "recording": {
                "type": "string",
                "format": "binary",
                "description": "The consent recording, at most 10 MiB: any container/codec ffmpeg decodes "
                "(wav, flac, mp3, ogg, aac, webm, mp4, ...).",
            },
        },
        ["name", "recording", "language"],
    ),
)
async def create_voice_consent(request: Request) -> Response:
    state = request.app.state
    form = await read_voice_form(request, "recording")
    params = parse_consent_form(form.fields)
    recording = form.require_file()
    verified = state.settings.voice_consent_check
    if verified:
        language, statement = statement_for(params.language)
        check_statement(statement, await transcribe(state.asr, request, recording, form.file_name, language))
    body = ConsentCreate(name=params.name, language=params.language, verified=verified).model_dump_json()
    return await state.tts.proxy(
        request,
        "POST",
        "/v1/audio/voice_consents",
        headers=JSON_CONTENT,
        body=body.encode(),
        timeout=state.settings.tts_timeout_seconds,
    )


@router.get(
    "/v1/audio/voice_consents",
    summary="List voice consents",
    description="Newest first; page on with `after` set to the previous page's `last_id`.",
    response_class=Response,
    responses={200: json_response(VoiceConsentListResource, "A page of consents."), **error_responses(400, 502, 504)},
)
async def list_voice_consents(
    request: Request,
    after: Annotated[str | None, Query(max_length=256, description="The id the previous page ended with.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=LIST_LIMIT_MAX, description="How many consents to return (1 to 100).")
    ] = LIST_LIMIT_DEFAULT,
) -> Response:
    query = urlencode({"limit": limit, **({"after": after} if after else {})})
    state = request.app.state
    return await state.tts.proxy(
        request, "GET", f"/v1/audio/voice_consents?{query}", timeout=state.settings.tts_timeout_seconds
    )


@router.get(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Retrieve a voice consent",
    response_class=Response,
    responses={200: json_response(VoiceConsentResource, "The consent."), **error_responses(404, 502, 504)},
)
async def get_voice_consent(consent_id: str, request: Request) -> Response:
    state = request.app.state
    return await state.tts.proxy(request, "GET", _path(consent_id), timeout=state.settings.tts_timeout_seconds)


@router.post(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Rename a voice consent",
    description="Changes the consent's name only; the recording and its check stand.",
    response_class=Response,
    responses={
        200: json_response(VoiceConsentResource, "The renamed consent."),
        **error_responses(400, 404, 408, 413, 415, 502, 504),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ref(ConsentUpdate)}}}},
)
async def rename_voice_consent(consent_id: str, request: Request) -> Response:
    state = request.app.state
    body = (await read_json(request, ConsentUpdate)).model_dump_json().encode()
    return await state.tts.proxy(
        request, "POST", _path(consent_id), headers=JSON_CONTENT, body=body, timeout=state.settings.tts_timeout_seconds
    )


@router.delete(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Delete a voice consent",
    description="Withdraws the consent: the custom voices created with it are deleted too.",
    response_class=Response,
    responses={200: json_response(VoiceConsentDeletedResource, "Deleted."), **error_responses(404, 502, 504)},
)
async def delete_voice_consent(consent_id: str, request: Request) -> Response:
    state = request.app.state
    return await state.tts.proxy(request, "DELETE", _path(consent_id), timeout=state.settings.tts_timeout_seconds)
