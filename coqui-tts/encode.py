"""In-process audio encoding with PyAV: float PCM in, the requested response_format out.

``AudioEncoder`` is fed PCM chunk by chunk as it is synthesized and returns the bytes that are
ready, so a streamed response can send audio long before synthesis ends. Non-streamed responses
use a seekable buffer instead, so muxers that patch headers at the end (flac STREAMINFO, the mp3
Xing frame) write complete ones.

Public contract: pcm is raw 24 kHz s16le mono; every other format is 24 kHz mono too except
opus, which Ogg Opus always carries at 48 kHz.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np

PCM_RATE = 24_000
# response_format -> (container, codec, sample rate)
_CODECS: dict[str, tuple[str, str, int]] = {
    "mp3": ("mp3", "libmp3lame", PCM_RATE),
    "opus": ("ogg", "libopus", 48_000),
    "aac": ("adts", "aac", PCM_RATE),
    "flac": ("flac", "flac", PCM_RATE),
}
_BIT_RATES: dict[str, int] = {"mp3": 64_000, "opus": 32_000, "aac": 64_000}
STREAMED_WAV_SIZE = 0xFFFFFFFF  # "unknown length": what ffmpeg and browsers accept for streamed wav


def wav_header(data_bytes: int, rate: int = PCM_RATE) -> bytes:
    """A 44-byte RIFF header for s16le mono; ``STREAMED_WAV_SIZE`` when the length is unknown."""
    riff_size = STREAMED_WAV_SIZE if data_bytes == STREAMED_WAV_SIZE else 36 + data_bytes
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


class _Chunks(io.RawIOBase):
    """A write-only, non-seekable sink whose bytes are taken as soon as the muxer writes them."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _frame(pcm: np.ndarray, rate: int) -> av.AudioFrame:
    samples = np.ascontiguousarray(np.clip(pcm, -1.0, 1.0), dtype=np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
    frame.sample_rate = rate
    return frame


class AudioEncoder:
    """Encode mono float PCM at ``input_rate`` into ``response_format``, chunk by chunk.

    ``feed()`` returns the bytes ready so far (possibly empty); ``close()`` returns the rest.
    With ``streaming=False`` everything is returned by ``close()``, with complete headers.
    """

    def __init__(self, response_format: str, input_rate: int, *, streaming: bool) -> None:
        self.format = response_format
        self.input_rate = input_rate
        self.streaming = streaming
        self._started = False
        if response_format in ("pcm", "wav"):
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
            self._raw = bytearray()  # non-streamed wav/pcm: the whole body
            return
        container, codec, rate = _CODECS[response_format]
        self._sink: _Chunks | io.BytesIO = _Chunks() if streaming else io.BytesIO()
        # Ogg holds packets until a page is full (1 s by default): short pages keep streaming live.
        options = {"page_duration": "200000"} if container == "ogg" else {}
        self._container = av.open(self._sink, mode="w", format=container, options=options)
        self._stream = self._container.add_stream(codec, rate=rate, layout="mono")
        if response_format in _BIT_RATES:
            self._stream.bit_rate = _BIT_RATES[response_format]
        # PyAV's encoder converts sample format and frame size, not the rate: resample first.
        self._resampler = av.AudioResampler(format=self._stream.format.name, layout="mono", rate=rate)
        self._time_base = Fraction(1, rate)
        self._samples = 0

    @property
    def _raw_format(self) -> bool:
        return self.format in ("pcm", "wav")

    def feed(self, pcm: np.ndarray) -> bytes:
        if pcm.size == 0:  # an empty frame makes the resampler fail
            return b""
        return self._encode(self._resampler.resample(_frame(pcm, self.input_rate)))

    def close(self) -> bytes:
        """Flush the resampler and encoder; the final bytes of the body."""
        tail = self._encode(self._resampler.resample(None))
        if self._raw_format:
            if self.streaming:
                return tail
            body = bytes(self._raw)
            return (wav_header(len(body)) + body) if self.format == "wav" else body
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        if isinstance(self._sink, io.BytesIO):
            return self._sink.getvalue()
        return tail + self._sink.take()

    def _encode(self, frames: list[av.AudioFrame]) -> bytes:
        if self._raw_format:
            data = b"".join(frame.to_ndarray().tobytes() for frame in frames)
            if not self.streaming:
                self._raw += data
                return b""
            if self.format == "wav" and not self._started:
                self._started = True
                data = wav_header(STREAMED_WAV_SIZE) + data
            return data
        for frame in frames:
            frame.pts = self._samples  # in samples: the stream's time base is 1/rate
            frame.time_base = self._time_base
            self._samples += frame.samples
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.take() if isinstance(self._sink, _Chunks) else b""
