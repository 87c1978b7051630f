"""A custom voice's audio sample: decoded in process (PyAV, any container/codec FFmpeg reads) and
checked before any model sees it.

XTTS computes a voice from 3 s of speech or more and reads at most its first ``max_ref_len``
seconds (10 for XTTS v2); OpenAI takes samples of up to 30 s. Decoding stops past 30 s, so a small
file of compressed silence cannot make the service decode hours of audio.
"""

from __future__ import annotations

import io

import numpy as np

from common.decoding import TooLong, Undecodable, decoded_blocks
from common.errors import APIError, invalid

SAMPLE_RATE = 22050  # what XTTS loads speaker references at
MIN_SPEECH_SECONDS = 3.0
MAX_SAMPLE_SECONDS = 30.0
FIELD = "audio_sample"
_FRAME = SAMPLE_RATE // 50  # 20 ms
_SILENCE_DB = 40.0  # frames this far below the loudest one are pauses, not speech


def _undecodable(reason: str) -> APIError:
    return invalid(
        f"The audio sample could not be decoded as audio ({reason}). Send 3 to 30 s of one person speaking, in a "
        "common audio file (wav, flac, mp3, ogg, m4a, webm, ...).",
        FIELD,
        "invalid_audio",
    )


def _too_long() -> APIError:
    return invalid(
        f"The audio sample is longer than {MAX_SAMPLE_SECONDS:g} s: send 3 to {MAX_SAMPLE_SECONDS:g} s of one person "
        "speaking.",
        FIELD,
        "audio_too_long",
    )


def decode_sample(data: bytes) -> np.ndarray:
    """Mono float32 samples at SAMPLE_RATE; 400 when it is not audio or is longer than 30 s."""
    try:
        blocks = list(decoded_blocks(io.BytesIO(data), SAMPLE_RATE, MAX_SAMPLE_SECONDS))
    except Undecodable as exc:
        raise _undecodable(exc.reason) from None
    except TooLong:
        raise _too_long() from None
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def speech_seconds(samples: np.ndarray) -> float:
    """How long the sample is audible: 20 ms frames within 40 dB of the loudest one (pauses and
    silence around the speech do not count)."""
    frames = len(samples) // _FRAME
    if frames == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.square(samples[: frames * _FRAME].reshape(frames, _FRAME), dtype=np.float64), axis=1))
    loudest = float(rms.max())
    if loudest < 1e-4:  # digital silence (or as good as)
        return 0.0
    return int(np.count_nonzero(rms > loudest * 10 ** (-_SILENCE_DB / 20))) * _FRAME / SAMPLE_RATE


def checked_sample(data: bytes) -> np.ndarray:
    """The decoded sample, or a 400 saying how much speech was found when there is too little."""
    samples = decode_sample(data)
    speech = speech_seconds(samples)
    if speech < MIN_SPEECH_SECONDS:
        raise invalid(
            f"The audio sample has {speech:.1f} s of speech in {len(samples) / SAMPLE_RATE:.1f} s of audio; XTTS needs "
            f"at least {MIN_SPEECH_SECONDS:g} s: send 3 to {MAX_SAMPLE_SECONDS:g} s of one person speaking.",
            FIELD,
            "audio_too_short",
        )
    return samples
