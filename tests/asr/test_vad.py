"""The VAD WhisperX cuts the audio with: its per-request parameters change the cut, on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from asr.audio import SAMPLE_RATE
from common.api_types import VadParameters
from fixtures.speech import SENTENCES, decode, speech_file

PAUSE = 0.6  # seconds of silence between the two phrases


@pytest.fixture(scope="module")
def two_phrases() -> np.ndarray:
    """Two Piper phrases with a 0.6 s pause between them, 16 kHz."""
    return decode(speech_file(SENTENCES[1:3], "wav", pause=PAUSE))


def regions(samples: np.ndarray, parameters: VadParameters) -> list[tuple[float, float]]:
    """What WhisperX gets from the VAD the service loads, with ``parameters`` set for the request."""
    from asr.vad import SileroVad

    vad = SileroVad()
    vad.parameters = parameters
    found = vad({"waveform": vad.preprocess_audio(samples), "sample_rate": SAMPLE_RATE})
    return [(segment.start, segment.end) for segment in found]


def test_a_short_silence_duration_splits_phrases_that_a_long_one_keeps_together(two_phrases: np.ndarray) -> None:
    duration = len(two_phrases) / SAMPLE_RATE
    split = regions(two_phrases, VadParameters(silence_duration_ms=200))
    merged = regions(two_phrases, VadParameters(silence_duration_ms=1000))
    assert len(split) == 2, split
    assert len(merged) == 1, merged
    (first_start, first_end), (second_start, second_end) = split
    # The cut falls in the pause: the first phrase ends before the second begins, and with the
    # 200 ms of silence kept after it, the first region ends inside the pause.
    first_phrase = len(decode(speech_file(SENTENCES[1], "wav"))) / SAMPLE_RATE
    assert first_phrase - 0.3 < first_end < first_phrase + PAUSE
    assert first_end <= second_start < first_phrase + PAUSE
    # The one long region covers both phrases.
    assert merged[0][0] <= first_start + 0.05 and merged[0][1] >= second_end - 0.05
    assert second_end <= duration


def test_prefix_padding_starts_each_region_earlier(two_phrases: np.ndarray) -> None:
    tight = regions(two_phrases, VadParameters(prefix_padding_ms=0))
    padded = regions(two_phrases, VadParameters(prefix_padding_ms=300))
    assert len(tight) == len(padded) == 2
    assert padded[1][0] == pytest.approx(tight[1][0] - 0.3, abs=1e-6)


def test_a_threshold_above_every_score_finds_no_speech(two_phrases: np.ndarray) -> None:
    assert regions(two_phrases, VadParameters(threshold=0.9999)) == []
    assert regions(np.zeros(3 * SAMPLE_RATE, np.float32), VadParameters()) == []
