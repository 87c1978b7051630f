"""WebSocket /v1/realtime: OpenAI Realtime transcription sessions, relayed to the ASR service.

The session (its configuration, audio buffer, VAD and transcriptions) lives in the ASR service;
the gateway checks the API key (``gateway.auth``, before the upgrade), opens the same route on
the ASR service and relays frames both ways (``gateway.websocket_relay``).
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from common.auth import presented_secret, refuse
from common.errors import APIError
from common.realtime_config import SESSION_HEADER
from common.service import REQUEST_ID_HEADER, request_id_var
from gateway.auth import origin_allowed
from gateway.client_secrets import PREFIX as CLIENT_SECRET_PREFIX
from gateway.websocket_relay import backend_socket, relay

router = APIRouter(tags=["realtime"])
PATH = "/v1/realtime"  # the same on the ASR service
SUBPROTOCOL = "realtime"  # offered by OpenAI's browser clients (with the key as openai-insecure-api-key.<key>)
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"  # how a browser says OpenAI-Beta: realtime=v1
BETA_HEADER = "realtime=v1"


@router.websocket(PATH)
async def realtime(websocket: WebSocket) -> None:
    state = websocket.app.state
    offered = websocket.scope.get("subprotocols", [])
    if not origin_allowed(websocket.scope, state.settings):
        origin = websocket.headers.get("origin", "")[:200]
        error = APIError(403, f"Origin {origin!r} is not allowed (CORS_ALLOW_ORIGINS).", code="origin_not_allowed")
        await refuse(websocket.scope, websocket.receive, websocket.send, error)
        return
    headers = [(REQUEST_ID_HEADER, request_id_var.get()), *state.asr.auth_headers]
    secret = presented_secret(websocket.scope) or ""
    if secret.startswith(CLIENT_SECRET_PREFIX):  # the session starts as the secret was minted for
        claims = state.client_secrets.verify(secret)
        if claims is None:
            message = "The client secret is invalid or has expired: mint another (POST /v1/realtime/client_secrets)."
            error = APIError(401, message, code="invalid_api_key")
            await refuse(websocket.scope, websocket.receive, websocket.send, error)
            return
        headers.append((SESSION_HEADER, claims.header()))
    if BETA_SUBPROTOCOL in offered or websocket.headers.get("openai-beta", "").strip().lower() == BETA_HEADER:
        headers.append(("OpenAI-Beta", BETA_HEADER))  # the ASR service answers in the beta shapes
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    target = PATH + (f"?{query}" if query else "")
    settings = state.settings
    try:
        async with backend_socket(
            state.asr, target, headers=headers, timeout=settings.connect_timeout_seconds
        ) as upstream:
            await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
            await relay(websocket, upstream)
    except APIError as error:  # only opening the backend's socket raises it: the client is not accepted yet
        await refuse(websocket.scope, websocket.receive, websocket.send, error)
