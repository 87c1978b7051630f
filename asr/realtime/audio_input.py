"""The input audio of a realtime session: appended bytes decoded to 16 kHz (they wait for their
turn in ``asr.audio.SampleBuffer``).

Clients send 24 kHz 16-bit PCM or 8 kHz G.711 (μ-law, A-law). Both are decoded and resampled
with FFmpeg's own decoders and resampler (PyAV), one stateful resampler per session, so audio
split across appends at any byte comes out exactly as if it had been sent in one piece.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from common.realtime_config import G711_RATE, PCM_RATE, Format

_G711_CODECS = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}


class InputDecoder:
    """Bytes of one session's audio, in its configured format, to 16 kHz mono int16."""

    def __init__(self, fmt: Format) -> None:
        import av

        self.format = fmt
        self._codec = None
        if fmt in _G711_CODECS:
            self._codec = av.CodecContext.create(_G711_CODECS[fmt], "r")
            self._codec.sample_rate = G711_RATE
            self._codec.layout = "mono"
        self._rate = PCM_RATE if self._codec is None else G711_RATE
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._odd_byte = b""  # half a 16-bit sample, completed by the next append

    def decode(self, data: bytes) -> np.ndarray:
        import av

        if self._codec is not None:
            frames = self._codec.decode(av.Packet(data))
        else:
            data = self._odd_byte + data
            usable = len(data) - len(data) % 2
            self._odd_byte = data[usable:]
            pcm = np.frombuffer(data[:usable], dtype="<i2")
            if not len(pcm):
                return np.zeros(0, np.int16)
            frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
            frame.sample_rate = self._rate
            frames = [frame]
        out = [resampled.to_ndarray().reshape(-1) for frame in frames for resampled in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.int16)


def to_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0
