"""GET /healthz (liveness) and GET /readyz (which backends answer)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.discovery import probe

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    description="Asks each backend's /healthz (which includes its model state). 200 when both answer, else 503; "
    "the body lists each backend.",
    responses={503: {"description": "At least one backend does not answer."}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    timeout = state.settings.ready_timeout_seconds
    asr, tts = await asyncio.gather(probe(state.asr, timeout), probe(state.tts, timeout))
    for result in (asr, tts):
        result.pop("reason", None)  # the address behind a failure stays in the gateway's log
    ready = asr["ok"] and tts["ok"]
    body = {"status": "ready" if ready else "not_ready", "backends": {"asr": asr, "tts": tts}}
    return JSONResponse(body, status_code=200 if ready else 503)
