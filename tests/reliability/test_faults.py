"""Faults between the gateway and its backends: crashes, hangs and stop signals.

A real TTS service (Piper) that the tests kill with SIGKILL, stop with SIGTERM and start again on
the same port; a "backend" that accepts connections and never answers; the gateway stays up
throughout and is never restarted.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from fixtures.load import audio_seconds, long_input, synthesize, transcribe
from fixtures.servers import Server, run_service
from fixtures.speech import SENTENCE, speech_file
from fixtures.waiting import wait_until
from tests.reliability.client import assert_envelope
from tests.reliability.conftest import BACKEND_TIMEOUT_SECONDS, FakeControl, fake_gateway_env
from tests.reliability.procs import Service, start_service

SHUTDOWN_BOUND_SECONDS = 30


@pytest.fixture(scope="module")
def tts(work_dir: Path) -> Iterator[Service]:
    env = {"TTS_ENGINE": "piper", "MODEL_TTL_SECONDS": "600", "HF_HUB_OFFLINE": "1"}
    with start_service("coqui_tts", env, log_dir=work_dir / "faults") as service:
        yield service


@pytest.fixture(scope="module")
def gateway(tts: Service, work_dir: Path, spool: Path) -> Iterator[Server]:
    """In front of the real TTS; a generous TTS timeout (Piper on a busy machine)."""
    env = {**fake_gateway_env("http://127.0.0.1:9", tts.url, spool), "TTS_TIMEOUT_SECONDS": "120"}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


def assert_stopped_cleanly(service: Service) -> None:
    """Exited within the bound, after its shutdown ran (uvicorn raises SIGTERM again once it is
    done; the service then exits as 143 through its exit handlers)."""
    assert service.process is not None
    assert service.process.wait(SHUTDOWN_BOUND_SECONDS) == 128 + signal.SIGTERM
    assert "Finished server process" in service.log()
    assert "Cancel 1 running task" not in service.log()


def _long_synthesis(url: str, sentences: int = 40) -> httpx.Response:
    with httpx.Client(timeout=120) as client:
        return synthesize(client, url, input=long_input(sentences))


def test_backend_killed_mid_request_is_502_then_recovers(tts: Service, gateway: Server) -> None:
    with httpx.Client(timeout=120) as client:
        assert synthesize(client, gateway.url).status_code == 200  # model loaded
    with ThreadPoolExecutor(1) as pool:
        mark = len(tts.log())
        pending = pool.submit(_long_synthesis, gateway.url)
        tts.wait_for_log("speaking", timeout=30, since=mark)  # the synthesis runs
        tts.kill()
        response = pending.result(timeout=30)
    assert_envelope(response, 502, "backend_unreachable")
    with httpx.Client(timeout=120) as client:
        assert_envelope(synthesize(client, gateway.url), 502, "backend_unreachable")  # still down
        tts.start()
        response = synthesize(client, gateway.url)
    assert response.status_code == 200 and audio_seconds(response.content) > 1.0


def test_sigterm_drains_the_request_in_flight(tts: Service, gateway: Server) -> None:
    """Docker/Kubernetes stop: the synthesis running when SIGTERM arrives still completes."""
    with ThreadPoolExecutor(1) as pool:
        mark = len(tts.log())
        pending = pool.submit(_long_synthesis, gateway.url, 12)  # well within the 30 s drain
        tts.wait_for_log("speaking", timeout=30, since=mark)  # the synthesis runs
        tts.terminate()
        response = pending.result(timeout=120)
        assert response.status_code == 200 and audio_seconds(response.content) > 10
    assert_stopped_cleanly(tts)
    tts.start()
    with httpx.Client(timeout=120) as client:
        assert synthesize(client, gateway.url).status_code == 200


def test_gateway_sigterm_drains_the_request_in_flight(fake: Service, backend: FakeControl, work_dir: Path,
                                                      spool: Path) -> None:  # fmt: skip
    backend.mode("sleep", seconds="1.5")  # under the gateway's 2 s TTS timeout
    service = Service("gateway", fake_gateway_env(fake.url, fake.url, spool), work_dir / "gateway-sigterm.log")
    service.start()
    try:
        with ThreadPoolExecutor(1) as pool:
            request = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}
            pending = pool.submit(httpx.post, f"{service.url}/v1/audio/speech", json=request, timeout=30)
            wait_until(backend.requests, 10, "the request to reach the backend")  # in flight
            service.terminate()
            response = pending.result(timeout=30)
        assert response.status_code == 200 and response.content.startswith(b"RIFF")
        # The gateway runs on Granian: its worker stopped on its own, not killed at SHUTDOWN_GRACE_SECONDS.
        assert service.process is not None and service.process.wait(SHUTDOWN_BOUND_SECONDS) == 0
        assert "Granian shutdown completed" in service.log()
        assert "refused to gracefully stop" not in service.log()
    finally:
        service.stop()


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """Accepts TCP connections (the kernel's backlog) and never reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def hanging_gateway(silent_backend: str, work_dir: Path, spool: Path) -> Iterator[Server]:
    with run_service("gateway", fake_gateway_env(silent_backend, silent_backend, spool), tmp_dir=work_dir) as server:
        yield server


@pytest.mark.parametrize("route", ["speech", "transcription"])
def test_hanging_backend_is_504_within_the_timeout(hanging_gateway: Server, route: str) -> None:
    clip = speech_file(SENTENCE, "mp3")  # made (and cached) before the clock starts
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        if route == "speech":
            response = synthesize(client, hanging_gateway.url)
        else:
            response = transcribe(client, hanging_gateway.url, clip)
    assert_envelope(response, 504, "backend_timeout")
    assert time.monotonic() - started < BACKEND_TIMEOUT_SECONDS + 3


def test_fake_backend_killed_mid_upload_is_502_then_recovers(fake: Service, backend: FakeControl,
                                                             fake_gateway: Server) -> None:  # fmt: skip
    """The ASR side: the backend dies while it holds a transcription (the fake one: restarts fast)."""
    backend.mode("sleep", seconds="20")
    with ThreadPoolExecutor(1) as pool, httpx.Client(timeout=30) as client:
        pending = pool.submit(transcribe, client, fake_gateway.url)
        wait_until(backend.requests, 10, "the transcription to reach the backend")
        fake.kill()
        response = pending.result(timeout=30)
        assert_envelope(response, 502, "backend_unreachable")
        fake.start()
        response = transcribe(client, fake_gateway.url)
    assert response.status_code == 200 and response.json()["text"] == "hello world"
