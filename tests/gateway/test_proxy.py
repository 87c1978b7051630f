"""Proxying through the real gateway to a real (fake) backend: bytes, streaming, failures."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import psutil
import pytest

from fixtures.servers import Server
from fixtures.waiting import wait_until
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import Form, assert_error

MODEL = ("model", "whisper-1")
SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}


class PeakRSS:
    """Samples a process's RSS in a thread while a block runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first-streamed", "file-first-spooled"])
def test_50mb_upload_streams_byte_for_byte(gateway: Server, backend: FakeControl, spool_dir, file_first: bool) -> None:
    size = 50 * 2**20
    fields = [MODEL, ("response_format", "json")]
    form = Form(after=fields, file_size=size) if file_first else Form(before=fields, file_size=size)
    # Warm the path once so lazily imported code does not count as growth.
    warm = Form(before=[MODEL])
    httpx.post(
        f"{gateway.url}/v1/audio/transcriptions", content=warm.body(), headers={"content-type": warm.content_type}
    )
    with PeakRSS(gateway.process.pid) as rss:
        response = httpx.post(
            f"{gateway.url}/v1/audio/transcriptions",
            content=form.chunks(),
            headers={"content-type": form.content_type, "content-length": str(form.size())},
            timeout=60,
        )
    assert response.status_code == 200, response.text
    received = [r for r in backend.requests() if r.get("body_done")][-1]
    assert received["size"] == form.size()
    assert received["sha256"] == form.sha256()
    assert received["content_type"] == form.content_type
    assert rss.growth_mb < 20, f"gateway RSS grew {rss.growth_mb:.1f} MB for a 50 MB upload"
    assert list(spool_dir.iterdir()) == []  # the spooled copy is gone


def test_chunked_upload_streams_through(gateway: Server, backend: FakeControl) -> None:
    form = Form(before=[MODEL], file_size=3_000_000)
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions",
        content=form.chunks(chunk=100_000),
        headers={"content-type": form.content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json()["sha256"] == form.sha256()


def test_text_format_passes_through_as_text_plain(gateway: Server, backend: FakeControl) -> None:
    backend.mode("text")
    form = Form(before=[MODEL, ("response_format", "text")])
    response = httpx.post(
        f"{gateway.url}/v1/audio/translations", content=form.body(), headers={"content-type": form.content_type}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "hello world"
    assert backend.requests()[0]["path"] == "/v1/audio/translations"


def test_request_id_echoed_forwarded_and_generated(gateway: Server, backend: FakeControl) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json=SPEECH, headers={"x-request-id": "test-rid-1"})
    assert response.headers["x-request-id"] == "test-rid-1"
    assert backend.requests()[0]["request_id"] == "test-rid-1"
    generated = httpx.get(f"{gateway.url}/v1/models").headers["x-request-id"]
    assert len(generated) >= 16
    gateway.wait_for_log("test-rid-1")  # logged by the gateway (its access line follows the response)


def _first_chunk_then_rest(url: str, backend: FakeControl, method: str, **kwargs) -> tuple[bytes, bytes, float]:
    """Read the first chunk while the backend is holding the rest, then release it."""
    with httpx.stream(method, url, timeout=5, **kwargs) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.time()
        assert not any(r.get("completed") for r in backend.requests())
        backend.release()
        rest = b"".join(chunks)
    return first, rest, first_at


def test_speech_audio_streams_before_backend_finishes(gateway: Server, backend: FakeControl) -> None:
    backend.mode("hold", bytes="300000")
    first, rest, first_at = _first_chunk_then_rest(
        f"{gateway.url}/v1/audio/speech", backend, "POST", json={**SPEECH, "stream": True}
    )
    assert first.startswith(b"RIFF")
    assert len(first) + len(rest) == 300000
    finished = backend.requests()[0]["finished"]
    assert first_at < finished


def test_large_speech_download_arrives_byte_for_byte(gateway: Server, backend: FakeControl) -> None:
    """A large download relayed through the gateway reaches the client whole and in order."""
    backend.mode("", bytes="5000000")
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json=SPEECH, timeout=30)
    assert response.status_code == 200
    assert len(response.content) == 5_000_000
    assert hashlib.sha256(response.content).hexdigest() == backend.requests()[0]["sha256"]


def test_response_head_is_not_held_back_while_the_body_is_slow(gateway: Server, backend: FakeControl) -> None:
    """The gateway sends a response's head with its first body bytes when they follow at once, and
    on its own otherwise: a client sees the status before slow audio starts."""
    backend.mode("hold-first", bytes="5000")
    with httpx.stream("POST", f"{gateway.url}/v1/audio/speech", json={**SPEECH, "stream": True}, timeout=5) as response:
        assert response.status_code == 200  # the head arrived while the backend still holds all audio
        assert not any(r.get("completed") for r in backend.requests())
        backend.release()
        assert len(response.read()) == 5000


def test_transcription_events_stream_before_backend_finishes(gateway: Server, backend: FakeControl) -> None:
    backend.mode("hold")
    form = Form(before=[MODEL, ("stream", "true")])
    first, rest, _ = _first_chunk_then_rest(
        f"{gateway.url}/v1/audio/transcriptions",
        backend,
        "POST",
        content=form.body(),
        headers={"content-type": form.content_type},
    )
    assert b"transcript.text.delta" in first
    assert b"transcript.text.done" in rest


def test_speech_headers_pass_through(gateway: Server, backend: FakeControl) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json={**SPEECH, "response_format": "wav"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert backend.requests()[0]["json"]["response_format"] == "wav"


def test_backend_error_passes_through_with_status(gateway: Server, backend: FakeControl) -> None:
    backend.mode("error")
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json=SPEECH)
    error = assert_error(response, 429, None, code="queue_full")
    assert error["message"] == "queue full"
    assert response.headers["retry-after"] == "7"


def test_non_envelope_backend_error_is_wrapped(gateway: Server, backend: FakeControl) -> None:
    backend.mode("plain-error")
    form = Form(before=[MODEL])
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions", content=form.body(), headers={"content-type": form.content_type}
    )
    error = assert_error(response, 500, None, code="backend_error")
    assert "backend exploded" in error["message"]
    assert error["type"] == "server_error"


def test_backend_dying_mid_stream_aborts_the_response(gateway: Server, backend: FakeControl) -> None:
    backend.mode("die", bytes="300000")
    with pytest.raises(httpx.RemoteProtocolError):  # never a clean, truncated 200
        httpx.post(f"{gateway.url}/v1/audio/speech", json=SPEECH, timeout=10)
    gateway.wait_for_log("TTS backend failed mid-response", "aborting the client's response")


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v1/audio/speech", "text-to-speech"),
        ("/v1/audio/transcriptions", "speech-to-text"),
        ("/v1/audio/voices", "text-to-speech"),
    ],
)
def test_backend_down_is_502(orphan_gateway: Server, path: str, label: str) -> None:
    if path.endswith("speech"):
        response = httpx.post(f"{orphan_gateway.url}{path}", json=SPEECH)
    elif path.endswith("voices"):
        response = httpx.get(f"{orphan_gateway.url}{path}")
    else:
        form = Form(before=[MODEL])
        response = httpx.post(
            f"{orphan_gateway.url}{path}", content=form.body(), headers={"content-type": form.content_type}
        )
    error = assert_error(response, 502, None, code="backend_unreachable")
    assert error["message"].startswith(f"The {label} service did not answer (")
    assert "refused" in error["message"]


def test_readyz(gateway: Server, orphan_gateway: Server, backend: FakeControl) -> None:
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["backends"]["asr"]["health"]["model"] == "not_loaded"
    down = httpx.get(f"{orphan_gateway.url}/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "not_ready"
    assert body["backends"]["asr"]["ok"] is False and body["backends"]["tts"]["ok"] is False
    assert httpx.get(f"{orphan_gateway.url}/healthz").status_code == 200  # liveness is not readiness


def test_slow_speech_backend_is_504(strict_gateway: Server, backend: FakeControl) -> None:
    backend.mode("sleep", seconds="3")
    started = time.monotonic()
    response = httpx.post(f"{strict_gateway.url}/v1/audio/speech", json=SPEECH, timeout=10)
    assert_error(response, 504, None, code="backend_timeout")
    assert time.monotonic() - started < 2.5
    assert response.json()["error"]["message"] == "The text-to-speech service did not answer in time."


def test_silent_asr_backend_is_504(strict_gateway: Server, backend: FakeControl) -> None:
    backend.mode("sleep", seconds="3")
    form = Form(before=[MODEL])
    response = httpx.post(
        f"{strict_gateway.url}/v1/audio/transcriptions",
        content=form.body(),
        headers={"content-type": form.content_type},
        timeout=10,
    )
    assert_error(response, 504, None, code="backend_timeout")


def test_client_disconnect_cancels_backend_request(gateway: Server, backend: FakeControl) -> None:
    backend.mode("sleep", seconds="5")
    form = Form(before=[MODEL])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway.url}/v1/audio/transcriptions",
            content=form.body(),
            headers={"content-type": form.content_type},
            timeout=httpx.Timeout(5, read=0.5),
        )
    wait_until(lambda: backend.requests()[0]["cancelled"], 3, "the backend request to be cancelled")


def test_voices_proxied(gateway: Server, backend: FakeControl) -> None:
    response = httpx.get(f"{gateway.url}/v1/audio/voices")
    assert response.status_code == 200
    assert response.json()["openai"]["alloy"] == "Claribel Dervla"
