"""``chunking_strategy: "auto"``: the audio's loudness normalised before the VAD cuts it.

A quiet recording (a distant microphone, a low input gain) scores low with the VAD, whose
threshold is absolute, and may lose speech. The gain brings the loudness of the speech to
``TARGET_DBFS``: loudness measured as EBU R128 / ITU-R BS.1770 gates it (mean square over 400 ms
blocks, leaving out silent blocks and those 10 dB below the rest), without the K-weighting filter
(the level is for the VAD and Whisper, not for a listener). The gain never clips a peak.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE

TARGET_DBFS = -23.0  # EBU R128's programme loudness
BLOCK = SAMPLE_RATE * 400 // 1000
ABSOLUTE_GATE_DBFS = -70.0
RELATIVE_GATE_DB = 10.0
PEAK = 0.99


def _db(mean_square: np.ndarray | float) -> np.ndarray | float:
    return 10 * np.log10(np.maximum(mean_square, 1e-20))


def gated_loudness(samples: np.ndarray) -> float | None:
    """The gated loudness of ``samples`` (16 kHz float) in dBFS; None when it is all silence."""
    blocks = len(samples) // BLOCK
    if blocks == 0:
        blocks, size = 1, len(samples)
    else:
        size = BLOCK
    powers = np.mean(np.square(samples[: blocks * size].reshape(blocks, size), dtype=np.float64), axis=1)
    loud = powers[_db(powers) > ABSOLUTE_GATE_DBFS]
    if not len(loud):
        return None
    loud = loud[_db(loud) > _db(loud.mean()) - RELATIVE_GATE_DB]
    return float(_db(loud.mean()))


def normalised(samples: np.ndarray) -> np.ndarray:
    """``samples`` with their loudness at TARGET_DBFS, as far as the peak allows."""
    loudness = gated_loudness(samples)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if loudness is None or peak == 0.0:
        return samples
    gain = min(10 ** ((TARGET_DBFS - loudness) / 20), PEAK / peak)
    return (samples * gain).astype(np.float32)
