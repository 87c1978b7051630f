"""WebSocket /v1/realtime: a realtime transcription session (the gateway relays the public route here).

Refusals happen after the upgrade, as OpenAI's Realtime API makes them: an ``error`` event, then
the close code (1013 "try again later" when MAX_REALTIME_SESSIONS are open, 1008 for a session
type this server does not run).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from asr.realtime.events import error_event
from asr.realtime.session import GONE, RealtimeSession
from asr.settings import SERVICE
from common.errors import APIError
from common.lifecycle import ModelRuntime
from common.metrics import REALTIME_SESSIONS
from common.realtime_config import SESSION_HEADER, configured

log = logging.getLogger(__name__)
router = APIRouter()
OPEN_SESSIONS = REALTIME_SESSIONS.labels(SERVICE)  # mirrors app.state.realtime_sessions
BETA_HEADER = "realtime=v1"  # the beta SDK's OpenAI-Beta header: answer in the beta event shapes


async def _refuse(websocket: WebSocket, error: APIError, code: int) -> None:
    try:
        await websocket.send_json(error_event(error))
        await websocket.close(code, error.code)
    except GONE:
        pass


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    state = websocket.app.state
    settings = state.settings
    runtime: ModelRuntime = state.runtime
    await websocket.accept()
    intent = websocket.query_params.get("intent", "transcription")
    if intent != "transcription":
        message = f"Invalid value for 'intent': {intent!r}. This server runs transcription sessions only: "
        error = APIError(400, message + "connect with ?intent=transcription.", param="intent", code="invalid_value")
        await _refuse(websocket, error, 1008)
        return
    if state.realtime_sessions >= settings.max_realtime_sessions:
        message = (
            f"Too many realtime sessions are open (MAX_REALTIME_SESSIONS={settings.max_realtime_sessions}); "
            "try again later."
        )
        await _refuse(websocket, APIError(429, message, code="session_limit_reached"), 1013)
        return
    legacy = websocket.headers.get("openai-beta", "").strip().lower() == BETA_HEADER
    try:  # a client secret's configuration, handed over by the gateway (validated when it was minted)
        config = configured(websocket.headers.get(SESSION_HEADER))
    except (APIError, ValueError, KeyError) as exc:
        error = exc if isinstance(exc, APIError) else APIError(400, "Unreadable session configuration.")
        await _refuse(websocket, error, 1008)
        return
    state.realtime_sessions += 1
    OPEN_SESSIONS.set(state.realtime_sessions)
    session = RealtimeSession(websocket, settings, runtime, legacy=legacy, config=config)
    log.info("realtime session %s opened", session.id)
    try:
        async with runtime.kept_loaded():
            await session.serve()
    except Exception:
        log.exception("realtime session %s failed", session.id)
        try:
            await websocket.close(1011, "internal error")
        except (*GONE, RuntimeError):
            pass
    finally:
        state.realtime_sessions -= 1
        OPEN_SESSIONS.set(state.realtime_sessions)
        log.info("realtime session %s closed", session.id)
