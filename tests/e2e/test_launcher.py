"""The launcher (README command 1) reports a service that cannot start, leaves nothing behind, and
keeps the backends to the gateway."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import httpx
import psutil

from fixtures.scripts import load_script
from fixtures.servers import free_port
from fixtures.stack import LAUNCHER, LocalStack, run_launcher_to_exit, still_running
from fixtures.waiting import wait_until


def test_a_bad_tts_engine_fails_at_start_up_naming_the_service(tmp_path: Path) -> None:
    """Issue 9: a bad engine name fails at start-up with a clear message, not on the first request."""
    env = {"TTS_ENGINE": "bogus", "GATEWAY_PORT": str(free_port()), "ASR_PORT": str(free_port()),
           "TTS_PORT": str(free_port())}  # fmt: skip
    result = run_launcher_to_exit(env, tmp_path / "run_local.log", timeout=180)
    assert result.returncode != 0
    assert "[run_local] coqui-tts exited with code" in result.log
    (reason,) = [line for line in result.log.splitlines() if "TTS_ENGINE" in line and "bogus" in line]
    assert "coqui" in reason and "piper" in reason, f"the message should name the accepted engines: {reason!r}"
    assert "[run_local] ready" not in result.log
    assert not result.left_running, f"processes left running: {result.left_running}"


def test_a_service_that_does_not_stop_is_killed_with_the_workers_it_forked() -> None:
    """Past the grace the launcher kills the service's whole process group: no worker is left
    running without its parent."""
    run_local = load_script(LAUNCHER)
    service = run_local.Service("stubborn", "tests.e2e.stubborn_service", free_port(), {})
    run_local.start(service, {})
    try:
        (worker,) = wait_until(psutil.Process(service.process.pid).children, 30, "the service to fork its worker")
        run_local.stop_all([service], grace=0.5)
        assert service.process.returncode == -signal.SIGKILL
        psutil.wait_procs([worker], timeout=5)
        assert not still_running(worker)
    finally:  # nothing left behind, even when an assertion fails: the group outlives its leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)


def test_an_unknown_models_mode_is_refused(tmp_path: Path) -> None:
    result = run_launcher_to_exit({"LOCAL_MODELS": "huge"}, tmp_path / "run_local.log", timeout=60)
    assert result.returncode != 0
    assert "LOCAL_MODELS must be 'embedded' or 'full'" in result.log
    assert not result.left_running


def test_the_backends_answer_only_the_gateway(embedded_stack: LocalStack) -> None:
    """All three share loopback: a plain request to a backend's port (as any local user or program
    could send) is refused; the same requests through the gateway work; health stays open."""
    asr, tts = embedded_stack.service_url("asr"), embedded_stack.service_url("coqui-tts")
    refused = [
        httpx.get(f"{tts}/v1/audio/voices"),
        httpx.post(f"{tts}/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy"}),
        httpx.post(f"{tts}/v1/audio/voice_consents", json={"name": "x", "language": "en", "verified": True}),
        httpx.post(f"{asr}/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF")}, data={"model": "whisper-1"}),
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_backend_token"
    for url in (asr, tts):
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{embedded_stack.url}/v1/audio/voices").status_code == 200
    assert httpx.get(f"{embedded_stack.url}/readyz").status_code == 200
