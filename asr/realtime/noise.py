"""``noise_reduction``: a session's input audio filtered before the VAD scores it and before it is
transcribed, as OpenAI describes the option.

The filter is WebRTC's noise suppression (the ``webrtc-noise-gain`` wrapper, what Home Assistant
runs for its voice satellites): made for streaming, 10 ms frames of 16 kHz 16-bit audio, which is
what the session decodes its input to, at a small fraction of one core. Both of OpenAI's types get
its moderate level: on speech in noise, near and distant (quiet), it served Whisper best of the
levels, and the stronger levels and the automatic gain (the obvious far-field choices) made
Whisper's transcripts worse and had the VAD hear speech in steady noise (docs/api.md).
"""

from __future__ import annotations

import numpy as np

from common.realtime_config import NoiseReduction

FRAME = 160  # 10 ms at 16 kHz
# (automatic gain target in -dBFS, 0 = off; noise suppression level, 0-4)
LEVELS: dict[NoiseReduction, tuple[int, int]] = {"near_field": (0, 2), "far_field": (0, 2)}


class NoiseReducer:
    """One session's filter: stateful (it learns the noise as it goes), so one per stream. Audio
    comes out in whole frames; the rest of an append waits for the next one."""

    def __init__(self, kind: NoiseReduction) -> None:
        from webrtc_noise_gain import AudioProcessor

        self.kind = kind
        self._processor = AudioProcessor(*LEVELS[kind])
        self._pending = np.zeros(0, np.int16)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Filtered 16 kHz mono int16 samples for ``samples`` (the same)."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        count = len(data) // FRAME
        self._pending = data[count * FRAME :].copy()
        pcm = data[: count * FRAME].astype("<i2").tobytes()
        step = FRAME * 2
        out = b"".join(self._processor.Process10ms(pcm[i : i + step]).audio for i in range(0, len(pcm), step))
        return np.frombuffer(out, "<i2").astype(np.int16)
