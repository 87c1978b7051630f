"""The fast fake backend the benchmark proxies to: plain ASGI, constant answers, no parsing.

It stands in for both ASR and TTS: reads and drops upload bodies (answering with their size),
and answers speech with ``SPEECH_BYTES`` (default 1 MiB) of random bytes, so that what the
gateway costs is measured, not inference. Run: ``python -m benchmarks.gateway.backend`` (PORT
and SPEECH_BYTES from the environment).
"""

from __future__ import annotations

import os

import uvicorn
from starlette.types import Receive, Scope, Send

_AUDIO = os.urandom(int(os.environ.get("SPEECH_BYTES", 1024 * 1024)))
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
    else:  # /healthz: an engine name settles the gateway's catalog poller
        await _respond(send, b'{"status":"ok","model":"ready","engine":"fake"}', _JSON)


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False,
        loop="uvloop", http="httptools",
    )  # fmt: skip
