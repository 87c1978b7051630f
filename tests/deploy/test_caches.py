"""The model caches are where the seed keeps them, and the images, compose, Kubernetes and the
services' own code agree on it: downloads land in the mounted volumes and survive rebuilds."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.deploy.deployment import (
    ASR,
    ASR_HF_HOME,
    ASR_MODELS,
    TTS,
    TTS_CACHE,
    TTS_HF_HOME,
    TTS_VOICES,
    dockerfile_env,
)


def _volume_targets(compose: dict[str, Any], service: str) -> list[str]:
    return [volume["target"] for volume in compose["services"][service].get("volumes", [])]


def _inside(path: str, folder: str) -> bool:
    return PurePosixPath(folder) in PurePosixPath(path).parents


def test_asr_model_caches_are_in_the_models_volume(compose: dict[str, Any]) -> None:
    """Hugging Face downloads (WhisperX, pyannote, most alignment models) and torch hub downloads
    (torchaudio's alignment models for en, fr, de, es, it) both land in the volume."""
    env = dockerfile_env(ASR.instructions())
    assert env["HF_HOME"] == ASR_HF_HOME
    assert _volume_targets(compose, "asr") == [ASR_MODELS]
    for name in ("HF_HOME", "TORCH_HOME"):
        assert _inside(env[name], ASR_MODELS), name
        assert name not in compose["services"]["asr"]["environment"]  # one place: the image


def test_tts_caches_are_in_the_coqui_volume(compose: dict[str, Any]) -> None:
    env = dockerfile_env(TTS.instructions())
    # The licence is accepted by the deployment files (compose, .env.example, Kubernetes), where an
    # operator sees it, never silently by the image.
    assert "COQUI_TOS_AGREED" not in env
    assert env["HF_HOME"] == TTS_HF_HOME
    assert _volume_targets(compose, "coqui-tts") == [TTS_CACHE, TTS_VOICES]
    assert _inside(env["HF_HOME"], TTS_CACHE)
    # Coqui's own cache location is left to its default, which the volume must cover.
    assert not {"TTS_HOME", "XDG_DATA_HOME", "HOME"} & set(env)


def test_coqui_code_puts_models_and_the_default_speaker_in_the_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the image's environment (root's home, no TTS_HOME/XDG_DATA_HOME), Coqui's model cache
    and the service's default speaker reference resolve to the mounted folder."""
    from trainer.io import get_user_data_dir

    from coqui_tts.engines.coqui import default_speaker_path
    from coqui_tts.settings import Settings

    monkeypatch.setenv("HOME", "/root")
    monkeypatch.delenv("TTS_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("DEFAULT_SPEAKER_WAV", raising=False)
    assert str(get_user_data_dir("tts")) == TTS_CACHE
    assert str(default_speaker_path(Settings())) == f"{TTS_CACHE}/default-speaker.flac"


def test_custom_voices_are_kept_in_their_own_volume(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the image's environment, VOICES_DIR's default is the voices volume, which is not inside
    the cache volume (voices are user data; caches can be deleted and downloaded again)."""
    from coqui_tts.settings import Settings

    monkeypatch.setenv("HOME", "/root")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("VOICES_DIR", raising=False)
    assert "XDG_DATA_HOME" not in dockerfile_env(TTS.instructions())
    assert str(Settings().resolved_voices_dir) == TTS_VOICES
    assert TTS_VOICES in _volume_targets(compose, "coqui-tts")
    assert not _inside(TTS_VOICES, TTS_CACHE)
