"""Talking to a TTS server and checking the audio it returns."""

from __future__ import annotations

import io
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import av
import httpx

from fixtures.servers import Server

PCM_RATE = 24_000
DECODED_RATE = {"opus": 48_000}  # Ogg Opus is always decoded at 48 kHz; the rest stays at 24 kHz


def speak(server: Server, *, request_id: str | None = None, **fields: Any) -> httpx.Response:
    body = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", **fields}
    headers = {"x-request-id": request_id} if request_id else {}
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, headers=headers, timeout=180)


@dataclass
class Streamed:
    chunks: list[bytes]
    first_at: float
    total: float
    headers: httpx.Headers

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def speak_streamed(server: Server, **fields: Any) -> Streamed:
    """A speech request as OpenAI clients send it (no ``stream`` field: speech streams by default)."""
    body = {"model": "tts-1", "voice": "alloy", **fields}
    started = time.perf_counter()
    first_at = 0.0
    chunks: list[bytes] = []
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=180) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            if chunk and not chunks:
                first_at = time.perf_counter() - started
            if chunk:
                chunks.append(chunk)
        headers = response.headers
    return Streamed(chunks, first_at, time.perf_counter() - started, headers)


@dataclass
class Decoded:
    rate: int
    channels: int
    seconds: float


def decode(body: bytes) -> Decoded:
    """Decode with PyAV (libavformat probes the container, as a client would)."""
    with av.open(io.BytesIO(body)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return Decoded(stream.rate, stream.channels, samples / stream.rate)


def ffmpeg_errors(body: bytes) -> str:
    """What the ffmpeg CLI complains about while decoding ``body`` (empty: it decoded cleanly)."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "null", "-"], input=body, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stderr.decode(errors="replace")


def pcm_seconds(body: bytes) -> float:
    assert len(body) % 2 == 0, "pcm is 16-bit: an even number of bytes"
    return len(body) / 2 / PCM_RATE
