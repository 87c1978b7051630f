"""What the e2e tests check on what a client gets back: audio that decodes (words: fixtures/wer.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

PCM_RATE = 24000  # the public contract for response_format=pcm: raw 24 kHz s16le mono

# response_format -> (container PyAV must find, codec names it may report)
SPEECH_CONTAINERS: dict[str, tuple[str, frozenset[str]]] = {
    "mp3": ("mp3", frozenset({"mp3", "mp3float"})),
    "opus": ("ogg", frozenset({"opus", "libopus"})),
    "aac": ("aac", frozenset({"aac"})),
    "flac": ("flac", frozenset({"flac"})),
    "wav": ("wav", frozenset({"pcm_s16le"})),
}


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # mono float32
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def decode_speech(data: bytes, response_format: str) -> DecodedAudio:
    """Decode a /v1/audio/speech body as the container and codec its format promises."""
    if response_format == "pcm":
        assert len(data) % 2 == 0, "pcm must be whole 16-bit samples"
        return DecodedAudio(np.frombuffer(data, "<i2").astype(np.float32) / 32768, PCM_RATE)
    import av

    container_name, codecs = SPEECH_CONTAINERS[response_format]
    parts: list[np.ndarray] = []
    with av.open(io.BytesIO(data), format=container_name) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name in codecs, f"{response_format}: codec {stream.codec_context.name}"
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return DecodedAudio(np.concatenate(parts) if parts else np.zeros(0, np.float32), rate)


def assert_audio(data: bytes, response_format: str, min_seconds: float = 0.05) -> DecodedAudio:
    """``data`` decodes as ``response_format`` at the public rate and holds sound, not silence.

    The default length is what the tiny random XTTS checkpoint gives (~0.15 s a sentence, less when
    sped up); real voices are held to the length of what they say.
    """
    audio = decode_speech(data, response_format)
    expected_rate = 48000 if response_format == "opus" else PCM_RATE  # Ogg Opus always decodes at 48 kHz
    assert audio.rate == expected_rate, f"{response_format}: {audio.rate} Hz"
    assert audio.seconds >= min_seconds, f"{response_format}: only {audio.seconds:.2f} s of audio"
    assert np.abs(audio.samples).max() > 0.01, f"{response_format}: silence"
    return audio
