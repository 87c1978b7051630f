"""The fast fake backend the benchmark proxies to: plain ASGI, constant answers, no parsing.

It stands in for both ASR and TTS: reads and drops upload bodies, answers speech with
``SPEECH_BYTES`` of audio, and serves a /v1/models list so nginx and direct runs have a
backend for that route too. Run: ``python -m benchmarks.gateway.backend`` (PORT from env).
"""

from __future__ import annotations

import json
import os

import uvicorn
from starlette.types import Receive, Scope, Send

SPEECH_BYTES = 1024 * 1024
_AUDIO = os.urandom(SPEECH_BYTES)
_MODELS = json.dumps(
    {"object": "list", "data": [{"id": "whisper-1", "object": "model", "created": 0, "owned_by": "x"}]}
).encode()
_JSON = b"application/json"


async def _respond(send: Send, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    path = scope["path"]
    if path == "/v1/audio/speech":
        await _respond(send, _AUDIO, b"audio/mpeg")
    elif path.startswith("/v1/audio/"):
        await _respond(send, b'{"text":"ok","bytes":%d}' % size, _JSON)
    elif path == "/v1/models":
        await _respond(send, _MODELS, _JSON)
    else:
        await _respond(send, b'{"status":"ok","model":"ready"}', _JSON)


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False,
        loop="uvloop", http="httptools",
    )  # fmt: skip
