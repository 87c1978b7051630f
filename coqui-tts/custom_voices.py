"""Custom voices and their consents (internal routes; the gateway checks consent recordings with
the ASR service before it asks for a consent here).

Consents are records only: no model, no inference slot. Creating a voice computes its conditioning
with the engine's model, so it waits for the inference slot like a speech request. Logs name a
voice or consent by id and name, never anything else about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request

from common.api_types import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    ConsentCreate,
    ConsentUpdate,
    SpeechRequest,
    VoiceForm,
    custom_voice_id,
    file_bytes,
)
from common.disconnect import cancel_on_disconnect
from common.errors import APIError, invalid
from common.lifecycle import held_until_sent
from common.resources import (
    VoiceConsentDeletedResource,
    VoiceConsentListResource,
    VoiceConsentResource,
    VoiceDeletedResource,
    VoiceResource,
)
from coqui_tts.engines import EngineSpec
from coqui_tts.engines.base import CustomVoice
from coqui_tts.samples import SAMPLE_RATE, checked_sample
from coqui_tts.store import UnknownConsent, VoiceStore

log = logging.getLogger(__name__)
router = APIRouter()
Held = Annotated[contextlib.AsyncExitStack, Depends(held_until_sent)]


def _store(request: Request) -> VoiceStore:
    return request.app.state.store


def cannot_clone(engine: str) -> APIError:
    return APIError(
        400,
        f"This TTS service runs the {engine} engine, which cannot clone voices. Run it with TTS_ENGINE=coqui "
        "(XTTS) to create and speak with custom voices.",
        code="voice_cloning_unsupported",
        permanent=True,
    )


def consent_not_found(consent_id: str) -> APIError:
    return APIError(404, f"No voice consent with id {consent_id[:80]!r}.", code="not_found")


def unknown_consent(consent_id: str) -> APIError:
    return invalid(
        f"Unknown consent {consent_id[:80]!r}: upload a consent recording first (POST /v1/audio/voice_consents) "
        "and pass its id, e.g. 'cons_1234'.",
        "consent",
        "consent_not_found",
    )


def unchecked_consent(consent_id: str) -> APIError:
    return invalid(
        f"The consent {consent_id!r} was stored without its recording being checked against the consent statement, "
        "so no voice can be cloned with it. Upload the consent recording again through the API "
        "(POST /v1/audio/voice_consents).",
        "consent",
        "consent_not_verified",
    )


def custom_voice(request: Request, body: SpeechRequest) -> CustomVoice | None:
    """The custom voice a speech request names (blocking: reads it from disk); None for a
    built-in or OpenAI voice name. 400 for an unknown id or an engine that cannot clone."""
    voice_id = custom_voice_id(body.voice)
    if voice_id is None:
        return None
    spec: EngineSpec = request.app.state.engine_spec
    found = _store(request).load_voice(voice_id)
    if found is None:
        raise invalid(
            f"Unknown voice {voice_id[:80]!r}: no custom voice has this id (GET /v1/audio/voices lists them).",
            "voice",
            "voice_not_found",
        )
    if not spec.clones:
        raise cannot_clone(request.app.state.settings.tts_engine)
    voice, conditioning = found
    return CustomVoice(voice.id, voice.name, conditioning)


# -- consents ----------------------------------------------------------------------------------
@router.post("/v1/audio/voice_consents")
async def create_consent(body: ConsentCreate, request: Request) -> VoiceConsentResource:
    # Only a caller holding BACKEND_TOKEN (the gateway, which transcribed the recording) can vouch for
    # it: with a token set, nobody else gets this far; without one, anybody could, so nobody is believed.
    verified = body.verified and request.app.state.settings.backend_token is not None
    consent = await asyncio.to_thread(_store(request).create_consent, body.name, body.language, verified=verified)
    log.info("created voice consent %s %r (statement %s)", consent.id, consent.name,
             "verified" if verified else "not checked")  # fmt: skip
    return consent.resource()


@router.get("/v1/audio/voice_consents")
async def list_consents(
    request: Request,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = LIST_LIMIT_DEFAULT,
) -> VoiceConsentListResource:
    consents = await asyncio.to_thread(_store(request).consents)
    start = 0
    if after:
        position = next((index for index, consent in enumerate(consents) if consent.id == after), None)
        if position is None:
            raise invalid(
                f"'after' names no voice consent ({after[:80]!r}): pass the last_id of the previous page.", "after"
            )
        start = position + 1
    page = consents[start : start + limit]
    return VoiceConsentListResource(
        data=[consent.resource() for consent in page],
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=start + limit < len(consents),
    )


@router.get("/v1/audio/voice_consents/{consent_id}")
async def get_consent(consent_id: str, request: Request) -> VoiceConsentResource:
    consent = await asyncio.to_thread(_store(request).consent, consent_id)
    if consent is None:
        raise consent_not_found(consent_id)
    return consent.resource()


@router.post("/v1/audio/voice_consents/{consent_id}")
async def rename_consent(consent_id: str, body: ConsentUpdate, request: Request) -> VoiceConsentResource:
    consent = await asyncio.to_thread(_store(request).rename_consent, consent_id, body.name)
    if consent is None:
        raise consent_not_found(consent_id)
    log.info("renamed voice consent %s to %r", consent.id, consent.name)
    return consent.resource()


@router.delete("/v1/audio/voice_consents/{consent_id}")
async def delete_consent(consent_id: str, request: Request) -> VoiceConsentDeletedResource:
    withdrawn = await asyncio.to_thread(_store(request).delete_consent, consent_id)
    if withdrawn is None:
        raise consent_not_found(consent_id)
    log.info("deleted voice consent %s and the %d voice(s) made with it: %s", consent_id, len(withdrawn),
             ", ".join(withdrawn) or "none")  # fmt: skip
    return VoiceConsentDeletedResource(id=consent_id, deleted=True)


# -- voices ------------------------------------------------------------------------------------
@router.post("/v1/audio/voices")
async def create_voice(
    form: Annotated[VoiceForm, Form(media_type="multipart/form-data")], request: Request, held: Held
) -> VoiceResource:
    """``name``, ``consent``, ``audio_sample``: XTTS conditioning from the sample, stored."""
    state = request.app.state
    spec: EngineSpec = state.engine_spec
    store = _store(request)
    if not spec.clones:
        raise cannot_clone(state.settings.tts_engine)
    data = await file_bytes(form.audio_sample, "audio_sample")
    consent = await asyncio.to_thread(store.consent, form.consent)
    if consent is None:
        raise unknown_consent(form.consent)
    if not consent.verified and state.settings.voice_consent_check:
        raise unchecked_consent(consent.id)
    samples = await asyncio.to_thread(checked_sample, data)  # before the slot: bad audio never waits for it
    session = await held.enter_async_context(state.runtime.session(request.receive, task="clone"))
    async with cancel_on_disconnect(request.receive):
        engine = await session.model(spec.key, spec.load, setting=spec.setting, kind=spec.kind)
        conditioning = await session.run(engine.clone, samples, SAMPLE_RATE)
    try:
        voice = await asyncio.to_thread(store.add_voice, form.name, form.consent, conditioning, spec.key)
    except UnknownConsent:  # withdrawn while the voice was being computed
        raise unknown_consent(form.consent) from None
    log.info("created custom voice %s %r", voice.id, voice.name)
    return voice.resource()


@router.delete("/v1/audio/voices/{voice_id}")
async def delete_voice(voice_id: str, request: Request) -> VoiceDeletedResource:
    if not await asyncio.to_thread(_store(request).delete_voice, voice_id):
        raise APIError(404, f"No custom voice with id {voice_id[:80]!r}.", code="not_found")
    log.info("deleted custom voice %s", voice_id)
    return VoiceDeletedResource(id=voice_id, deleted=True)
