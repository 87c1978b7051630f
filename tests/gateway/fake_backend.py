"""A small real backend standing in for both the ASR and the TTS service in gateway tests.

Run as ``python -m tests.gateway.fake_backend`` (HOST/PORT from the environment). It records
what it receives (``GET /_requests``) and misbehaves on demand, as set by
``POST /_mode?mode=...``: ``error`` (429 envelope + Retry-After), ``busy`` (429, Retry-After 1),
``permanent`` (503 with ``x-should-retry: false``), ``plain-error`` (500
text/plain), ``sleep`` (answer after ``seconds``), ``die`` (abort after the first chunk),
``hold`` (send a first chunk, then wait for ``POST /_release`` before finishing), ``hold-first``
(send the response head, then wait for the release before any audio), ``text``
(a text/plain transcription), ``statement`` (transcriptions hear the English consent statement).
``bytes`` sets the size of the speech audio. Consents and custom voices are kept in memory.

``WebSocket /v1/realtime`` stands in for the ASR service's realtime route: it sends a ``hello``
event with the query and headers it received, echoes each text frame as ``{"type": "echo",
"text"}`` and each binary frame as is, closes with code N on the text ``close:N``, and on
``flood:N`` sends N-byte frames until the client stops reading (``GET /_flood`` says how many
bytes it got out). How the client closed is recorded (``/_requests``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse

AUDIO_CHUNK = b"RIFF" + bytes(range(256)) * 16
app = FastAPI()
records: list[dict[str, Any]] = []
flooded = {"bytes": 0}
consents: dict[str, dict[str, Any]] = {}
voice_store: dict[str, dict[str, Any]] = {}
STATEMENT = "I am the owner of this voice and I consent to its use for creating a synthetic voice."
release = asyncio.Event()
behaviour: dict[str, str] = {}


def _record(request: Request, **extra: Any) -> dict[str, Any]:
    entry = {
        "path": request.url.path,
        "method": request.method,
        "request_id": request.headers.get("x-request-id"),
        "authorization": request.headers.get("authorization"),
        "content_type": request.headers.get("content-type"),
        "content_length": request.headers.get("content-length"),
        "started": time.time(),
        "completed": False,
        "cancelled": False,
        **extra,
    }
    records.append(entry)
    return entry


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    # What a real backend reports it serves; the gateway shows it in /v1/models.
    return {"status": "ok", "model": "not_loaded", "engine": "fake", "serves": "Fake test backend"}


@app.get("/_requests")
async def list_requests() -> list[dict[str, Any]]:
    return records


@app.get("/_flood")
async def flood_count() -> dict[str, int]:
    return flooded


@app.post("/_reset")
async def reset() -> dict[str, str]:
    records.clear()
    flooded["bytes"] = 0
    release.clear()
    behaviour.clear()
    consents.clear()
    voice_store.clear()
    return {"status": "ok"}


@app.post("/_mode")
async def set_mode(mode: str = "", seconds: str = "5", bytes: str = "4100") -> dict[str, str]:
    behaviour.update(mode=mode, seconds=seconds, bytes=bytes)
    return behaviour


@app.post("/_release")
async def do_release() -> dict[str, str]:
    release.set()
    return {"status": "ok"}


async def _misbehave(request: Request, entry: dict[str, Any]) -> Response | None:
    mode = behaviour.get("mode", "")
    if mode == "error":
        body = {"error": {"message": "queue full", "type": "rate_limit_error", "param": None, "code": "queue_full"}}
        return JSONResponse(body, status_code=429, headers={"retry-after": "7"})
    if mode == "permanent":  # a refusal no retry can fix (e.g. diarization without HF_TOKEN)
        body = {"error": {"message": "not configured", "type": "server_error", "param": None, "code": "unavailable"}}
        return JSONResponse(body, status_code=503, headers={"x-should-retry": "false"})
    if mode == "busy":  # the queue is full: come back in a second
        body = {"error": {"message": "busy", "type": "rate_limit_error", "param": None, "code": "server_busy"}}
        return JSONResponse(body, status_code=429, headers={"retry-after": "1"})
    if mode == "plain-error":
        return Response("backend exploded", status_code=500, media_type="text/plain")
    if mode == "sleep":  # answer after ``seconds``, unless the client leaves first
        try:
            await asyncio.wait_for(_disconnect(request), float(behaviour.get("seconds", "5")))
        except TimeoutError:
            return None
        entry["cancelled"] = True
        return Response(status_code=499)
    return None


async def _disconnect(request: Request) -> None:
    """Return once the client has gone: its body has been read, so the next message is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stream(entry: dict[str, Any], mode: str, chunks: list[bytes]) -> AsyncIterator[bytes]:
    if mode == "hold-first":
        await asyncio.wait_for(release.wait(), timeout=10)
    yield chunks[0]
    if mode == "die":
        raise RuntimeError("fake backend dies mid-stream")
    if mode == "hold":
        await asyncio.wait_for(release.wait(), timeout=10)
    for chunk in chunks[1:]:
        yield chunk
    entry["completed"] = True
    entry["finished"] = time.time()


@app.post("/v1/audio/transcriptions")
@app.post("/v1/audio/translations")
async def transcribe(request: Request) -> Response:
    entry = _record(request)
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    entry.update(size=size, sha256=digest.hexdigest(), body_done=True)
    if (early := await _misbehave(request, entry)) is not None:
        return early
    mode = behaviour.get("mode", "")
    if mode in ("hold", "die"):
        events = [b'data: {"type": "transcript.text.delta", "delta": "hello"}\n\n',
                  b'data: {"type": "transcript.text.done", "text": "hello world"}\n\n']  # fmt: skip
        return StreamingResponse(_stream(entry, mode, events), media_type="text/event-stream")
    entry["completed"] = True
    if mode == "text":
        return Response("hello world", media_type="text/plain; charset=utf-8")
    if mode == "statement":
        return JSONResponse({"text": STATEMENT})
    return JSONResponse({"text": "hello world", "bytes": size, "sha256": entry["sha256"]})


@app.post("/v1/audio/speech")
async def speech(request: Request) -> Response:
    body = await request.json()
    entry = _record(request, json=body)
    if (early := await _misbehave(request, entry)) is not None:
        return early
    mode = behaviour.get("mode", "")
    size = int(behaviour.get("bytes", str(len(AUDIO_CHUNK) * 4)))
    chunks = [AUDIO_CHUNK[: min(size, len(AUDIO_CHUNK))]]
    rest = size - len(chunks[0])
    block = os.urandom(64 * 1024)
    while rest > 0:
        chunks.append(block[: min(rest, len(block))])
        rest -= len(chunks[-1])
    entry["sha256"] = hashlib.sha256(b"".join(chunks)).hexdigest()
    media_type = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}.get(
        body.get("response_format"), "audio/mpeg"
    )
    return StreamingResponse(_stream(entry, mode, chunks), media_type=media_type)


@app.get("/v1/audio/voices")
async def voices(request: Request) -> dict[str, Any]:
    _record(request)
    speakers = ["Claribel Dervla", "Daisy Studious"]
    return {  # the TTS service's shape (common.resources.VoiceList)
        "voices": [{"id": "alloy", "name": "alloy (Claribel Dervla)"}, *({"id": s, "name": s} for s in speakers)],
        "engine": "fake",
        "description": "Fake test backend",
        "languages": ["en"],
        "builtin": speakers,
        "openai": {"alloy": "Claribel Dervla"},
        "default": speakers[0],
        "custom": [],
        "cloning": True,
    }


def _not_found(what: str) -> JSONResponse:
    body = {"error": {"message": f"no {what}", "type": "invalid_request_error", "param": None, "code": "not_found"}}
    return JSONResponse(body, status_code=404)


@app.post("/v1/audio/voice_consents")
async def create_consent(request: Request) -> Response:
    body = await request.json()
    _record(request, json=body)
    if (early := await _misbehave(request, {})) is not None:
        return early
    consent = {"object": "audio.voice_consent", "id": "cons_" + secrets.token_hex(12), "name": body["name"],
               "language": body["language"], "created_at": int(time.time())}  # fmt: skip
    consents[consent["id"]] = consent
    return JSONResponse(consent)


@app.get("/v1/audio/voice_consents")
async def list_consents(request: Request, limit: int = 20, after: str | None = None) -> dict[str, Any]:
    _record(request, query=str(request.query_params))
    data = list(consents.values())[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(consents) > limit}  # fmt: skip


@app.api_route("/v1/audio/voice_consents/{consent_id}", methods=["GET", "POST", "DELETE"])
async def consent(consent_id: str, request: Request) -> Response:
    body = await request.json() if request.method == "POST" else None
    _record(request, json=body, raw_path=request.scope["raw_path"].decode())
    if consent_id not in consents:
        return _not_found("consent")
    if request.method == "DELETE":
        del consents[consent_id]
        return JSONResponse({"id": consent_id, "object": "audio.voice_consent", "deleted": True})
    if body is not None:
        consents[consent_id]["name"] = body["name"]
    return JSONResponse(consents[consent_id])


@app.post("/v1/audio/voices")
async def create_voice(request: Request) -> Response:
    async with request.form() as form:
        sample = form.get("audio_sample")
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        size = len(await sample.read()) if sample is not None and not isinstance(sample, str) else None
    _record(request, fields=fields, sample_bytes=size)
    if fields.get("consent") not in consents:
        body = {"error": {"message": "unknown consent", "type": "invalid_request_error", "param": "consent",
                          "code": "consent_not_found"}}  # fmt: skip
        return JSONResponse(body, status_code=400)
    voice = {"object": "audio.voice", "id": "voice_" + secrets.token_hex(12), "name": fields["name"],
             "created_at": int(time.time())}  # fmt: skip
    voice_store[voice["id"]] = voice
    return JSONResponse(voice)


@app.delete("/v1/audio/voices/{voice_id}")
async def delete_voice(voice_id: str, request: Request) -> Response:
    _record(request)
    if voice_store.pop(voice_id, None) is None:
        return _not_found("voice")
    return JSONResponse({"id": voice_id, "object": "audio.voice.deleted", "deleted": True})


@app.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    entry = {"path": "/v1/realtime", "query": str(websocket.query_params), "headers": dict(websocket.headers)}
    records.append(entry)
    await websocket.accept()
    await websocket.send_json({"type": "hello", "query": entry["query"], "headers": entry["headers"]})
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            entry["client_close"] = message.get("code")
            return
        if message.get("bytes") is not None:
            await websocket.send_bytes(message["bytes"])
            continue
        text = message["text"]
        if text.startswith("close:"):
            await websocket.close(int(text.removeprefix("close:")), "closed by the backend")
            return
        if text.startswith("flood:"):
            frame = os.urandom(int(text.removeprefix("flood:")))  # incompressible: deflate cannot hide it
            while True:  # blocks once the gateway stops taking frames
                await websocket.send_bytes(frame)
                flooded["bytes"] += len(frame)
        await websocket.send_json({"type": "echo", "text": text})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        log_level="warning",
        timeout_keep_alive=int(os.environ.get("KEEP_ALIVE_SECONDS", "5")),  # uvicorn's default, like the seed's
    )
