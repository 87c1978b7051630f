"""``languages[]``: the spoken language, detected among the candidates a client names.

Whisper's language detection scores every language it knows on the first 30 s of the audio
(faster-whisper's ``detect_language``, the probabilities of the language tokens after the SOT
token); the candidate with the highest probability is the language transcribed with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from asr.models import WhisperModel


def likeliest(probabilities: Iterable[tuple[str, float]], candidates: Sequence[str]) -> str:
    """The candidate Whisper finds most probable (the first named, when none is scored)."""
    scores = dict(probabilities)
    return max(candidates, key=lambda code: scores.get(code, 0.0))


def detect_among(model: WhisperModel, samples: np.ndarray, candidates: Sequence[str]) -> str:
    """The language of ``samples`` (16 kHz float32), among ``candidates`` (ISO-639-1 codes)."""
    _, _, probabilities = model.pipeline.model.detect_language(audio=samples)
    return likeliest(probabilities, candidates)
