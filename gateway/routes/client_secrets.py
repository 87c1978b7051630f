"""POST /v1/realtime/client_secrets (and the beta /v1/realtime/transcription_sessions): an ephemeral
key for a browser to open one kind of thing only, a realtime transcription WebSocket, with the
session configuration given here (``gateway.client_secrets``)."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from common.realtime_config import SessionConfig, apply_update, ga_session, legacy_session
from gateway.client_secrets import ClientSecrets
from gateway.media_types import json_only
from gateway.openapi import error_responses

router = APIRouter(tags=["realtime"])
DEFAULT_SECONDS = 600  # OpenAI's default; from 10 s to 2 h


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"] = Field(default="created_at", description="Only `created_at`.")
    seconds: int = Field(default=DEFAULT_SECONDS, ge=10, le=7200, description="10 to 7200 (2 hours).")


class ClientSecretRequest(BaseModel):
    """OpenAI's RealtimeCreateClientSecretRequest, for transcription sessions."""

    model_config = ConfigDict(extra="forbid")

    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: dict[str, Any] = Field(
        default_factory=lambda: {"type": "transcription"},
        description='A transcription session\'s configuration, as in `session.update`: `{"type": "transcription", '
        '"audio": {"input": {"format", "transcription", "turn_detection", "noise_reduction"}}, "include"}`.',
    )


class ClientSecretResponse(BaseModel):
    """OpenAI's RealtimeCreateClientSecretResponse."""

    value: str = Field(description="The ephemeral key, `ek_...`: for opening realtime WebSockets only.")
    expires_at: int = Field(description="Unix time (seconds) after which it opens nothing.")
    session: dict[str, Any] = Field(description="The transcription session a WebSocket opened with it starts with.")


class ClientSecret(BaseModel):
    value: str
    expires_at: int


class TranscriptionSessionResponse(BaseModel):
    """OpenAI's beta RealtimeTranscriptionSessionCreateResponse: the session and its key."""

    model_config = ConfigDict(extra="allow")

    client_secret: ClientSecret


def _secrets(request: Request) -> ClientSecrets:
    return request.app.state.client_secrets


@router.post(
    "/v1/realtime/client_secrets",
    summary="Create a realtime client secret",
    description="An ephemeral key (`ek_...`) for a browser or another client that must not hold the API key: it "
    "opens realtime transcription WebSockets (`Authorization: Bearer ek_...`, or the subprotocol "
    "`openai-insecure-api-key.ek_...`) with the session configuration given here, until it expires, and nothing "
    "else. Signed with a key derived from BACKEND_TOKEN: every gateway sharing the token accepts it.",
    responses=error_responses(400, 401, 413, 415),
    dependencies=[Depends(json_only)],
)
async def create_client_secret(body: ClientSecretRequest, request: Request) -> ClientSecretResponse:
    config = apply_update(SessionConfig(), body.session, legacy=False)  # a bad configuration is a 400 now
    value, claims = _secrets(request).mint(body.session, legacy=False, seconds=body.expires_after.seconds)
    session = ga_session(config, f"sess_{secrets.token_hex(10)}", claims.expires_at)
    return ClientSecretResponse(value=value, expires_at=claims.expires_at, session=session)


@router.post(
    "/v1/realtime/transcription_sessions",
    summary="Create a realtime transcription session (beta)",
    description="The beta form of /v1/realtime/client_secrets: the body is a `transcription_session.update` "
    "session, the answer the session with its `client_secret` (valid for 10 minutes).",
    responses=error_responses(400, 401, 413, 415),
    dependencies=[Depends(json_only)],
)
async def create_transcription_session(body: dict[str, Any], request: Request) -> TranscriptionSessionResponse:
    config = apply_update(SessionConfig(), body, legacy=True)
    value, claims = _secrets(request).mint(body, legacy=True, seconds=DEFAULT_SECONDS)
    session = legacy_session(config, f"sess_{secrets.token_hex(10)}", claims.expires_at)
    client_secret = ClientSecret(value=value, expires_at=claims.expires_at)
    return TranscriptionSessionResponse(client_secret=client_secret, **session)
