"""Start-up configuration: a bad engine stops the service at once; a model that cannot be
obtained is a 503 naming it; the production by-name path works from a planted HF cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from fixtures.servers import REPO, run_service
from fixtures.tiny_xtts import SPEAKERS, plant_in_hf_cache, tiny_xtts_dir
from tests.tts.helpers import pcm_seconds, speak

XTTS_V2 = "tts_models/multilingual/multi-dataset/xtts_v2"


def test_bad_engine_fails_at_start_up() -> None:
    env = {**os.environ, "TTS_ENGINE": "espeak", "PORT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "coqui_tts"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "TTS_ENGINE='espeak'" in result.stderr
    assert "'coqui' or 'piper'" in result.stderr


def test_xtts_v2_by_name_offline(tmp_path: Path) -> None:
    """The default COQUI_MODEL through Coqui's model manager, with the hub unreachable: 503 naming
    the model and COQUI_MODEL until the model is in the HF cache, then it loads from there."""
    hf_home = tmp_path / "hf"
    env = {"TTS_HOME": str(tmp_path / "tts"), "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "COQUI_TOS_AGREED": "1"}
    env["MODEL_TTL_SECONDS"] = "600"
    with run_service("coqui_tts", env, tmp_dir=tmp_path) as server:
        health = httpx.get(f"{server.url}/healthz").json()
        assert health == {"status": "ok", "model": "not_loaded", "engine": "coqui", "serves": "Coqui XTTS v2"}

        missing = speak(server, response_format="pcm")

        assert missing.status_code == 503
        message = missing.json()["error"]["message"]
        assert XTTS_V2 in message and "COQUI_MODEL" in message

        plant_in_hf_cache(tiny_xtts_dir(), hf_home)
        response = speak(server, response_format="pcm")

        assert response.status_code == 200, response.text
        assert pcm_seconds(response.content) > 0
        voices = httpx.get(f"{server.url}/v1/audio/voices", timeout=120).json()
        assert voices["builtin"] == list(SPEAKERS)


def test_xtts_v2_needs_its_licence_accepted(tmp_path: Path) -> None:
    """Without COQUI_TOS_AGREED=1 (set by the deployment files) the by-name model is refused with a
    message saying how to accept its licence, instead of a prompt on a terminal nobody reads."""
    hf_home = tmp_path / "hf"
    plant_in_hf_cache(tiny_xtts_dir(), hf_home)
    env = {"TTS_HOME": str(tmp_path / "tts"), "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "COQUI_TOS_AGREED": "0"}
    with run_service("coqui_tts", env, tmp_dir=tmp_path) as server:
        refused = speak(server, response_format="pcm")

        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "licence_not_accepted"
        assert refused.headers["x-should-retry"] == "false"  # the OpenAI SDKs do not retry it
        assert "COQUI_TOS_AGREED=1" in error["message"] and "https://coqui.ai/cpml" in error["message"]
