"""Decode any container/codec to 16 kHz mono float32 in process (PyAV), one window at a time.

Short audio (up to the chunk threshold) comes back as one window, exactly as if it had been
decoded whole. Longer audio comes back as overlapping windows of ``chunk`` seconds, so memory
stays bounded by one window however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.decoding import TooLong, Undecodable, decoded_blocks
from common.errors import invalid

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Window:
    """Samples starting ``offset`` samples into the file; ``last`` when nothing follows."""

    offset: int
    samples: np.ndarray
    last: bool

    @property
    def start(self) -> float:
        return self.offset / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self.offset + len(self.samples)) / SAMPLE_RATE


def _undecodable(reason: str) -> Exception:
    return invalid(
        f"The file could not be decoded as audio ({reason}). Send a common audio or video file "
        "(flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm, …).",
        "file",
        "invalid_audio",
    )


def _too_long(max_seconds: float) -> Exception:
    return invalid(
        f"The audio is longer than the {max_seconds:g} s this server accepts (MAX_AUDIO_SECONDS).",
        "file",
        "audio_too_long",
    )


def _frames(path: Path, max_seconds: float) -> Iterator[np.ndarray]:
    """Mono float32 16 kHz sample blocks of the file's first audio stream, at most ``max_seconds``
    of them (0: no limit)."""
    try:
        yield from decoded_blocks(path, SAMPLE_RATE, max_seconds)
    except Undecodable as exc:
        raise _undecodable(exc.reason) from None
    except TooLong:
        raise _too_long(max_seconds) from None


class _Buffer:
    """Collects decoded blocks; concatenates lazily (no quadratic copying)."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._parts: list[np.ndarray] = []
        self.size = 0
        self.exhausted = False

    def fill(self, target: int) -> None:
        while self.size < target and not self.exhausted:
            block = next(self._blocks, None)
            if block is None:
                self.exhausted = True
            elif len(block):
                self._parts.append(block)
                self.size += len(block)

    def head(self, count: int) -> np.ndarray:
        joined = np.concatenate(self._parts) if len(self._parts) != 1 else self._parts[0]
        self._parts = [joined]
        return joined[:count]

    def drop(self, count: int) -> None:
        joined = self.head(self.size)
        self._parts = [joined[count:].copy()]  # copy: release the dropped samples
        self.size -= count


def windows(
    path: Path, *, chunk_seconds: float, overlap_seconds: float, threshold_seconds: float, max_seconds: float = 0
) -> Iterator[Window]:
    """Decode ``path`` into windows; raises a 400 APIError when it is not audio, is empty or is
    longer than ``max_seconds`` (0: no limit)."""
    return _windows(
        _frames(path, max_seconds), chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
        threshold_seconds=threshold_seconds,
    )  # fmt: skip


def sample_windows(
    samples: np.ndarray, *, chunk_seconds: float, overlap_seconds: float, threshold_seconds: float
) -> Iterator[Window]:
    """Mono float32 16 kHz samples already in memory (a realtime turn), cut exactly as a file is."""
    return _windows(
        iter([samples]), chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
        threshold_seconds=threshold_seconds,
    )  # fmt: skip


def _windows(
    blocks: Iterator[np.ndarray], *, chunk_seconds: float, overlap_seconds: float, threshold_seconds: float
) -> Iterator[Window]:
    chunk = int(chunk_seconds * SAMPLE_RATE)
    step = chunk - int(overlap_seconds * SAMPLE_RATE)
    threshold = int(threshold_seconds * SAMPLE_RATE)
    buffer = _Buffer(blocks)
    buffer.fill(max(threshold, chunk) + 1)
    if buffer.size == 0:
        raise invalid("The file contains no audio samples (it is empty or truncated).", "file", "empty_audio")
    if buffer.exhausted and buffer.size <= threshold:
        yield Window(0, buffer.head(buffer.size), last=True)
        return
    offset = 0
    while True:
        buffer.fill(chunk + 1)  # one sample more tells whether another window follows
        last = buffer.exhausted and buffer.size <= chunk
        yield Window(offset, buffer.head(chunk), last=last)
        if last:
            return
        buffer.drop(step)
        offset += step
