"""The launcher (README command 1) reports a service that cannot start, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stack import run_launcher_to_exit
from tests.servers import free_port


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


def test_an_unknown_models_mode_is_refused(tmp_path: Path) -> None:
    result = run_launcher_to_exit({"LOCAL_MODELS": "huge"}, tmp_path / "run_local.log", timeout=60)
    assert result.returncode != 0
    assert "LOCAL_MODELS must be 'embedded' or 'full'" in result.log
    assert not result.left_running
