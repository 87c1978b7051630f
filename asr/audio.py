"""Decode any container/codec to 16 kHz mono float32 in process (PyAV), one window at a time; and
the one buffer samples wait in (file windows, and a realtime session's input audio).

Short audio (up to the chunk threshold) comes back as one window, exactly as if it had been
decoded whole. Longer audio comes back as overlapping windows of ``chunk`` seconds, so memory
stays bounded by one window however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


def _frames(source: Path | BinaryIO, max_seconds: float) -> Iterator[np.ndarray]:
    """Mono float32 16 kHz sample blocks of the first audio stream, at most ``max_seconds`` of them
    (0: no limit)."""
    try:
        yield from decoded_blocks(source, SAMPLE_RATE, max_seconds)
    except Undecodable as exc:
        raise _undecodable(exc.reason) from None
    except TooLong:
        raise _too_long(max_seconds) from None


class SampleBuffer:
    """Samples from ``start`` to ``end``, counted from the beginning of the stream, so positions stay
    valid as the front is dropped. Appended blocks are joined lazily (no quadratic copying)."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit  # most samples it holds; 0: no limit
        self.start = 0
        self._parts: list[np.ndarray] = []
        self._size = 0

    @property
    def end(self) -> int:
        return self.start + self._size

    def __len__(self) -> int:
        return self._size

    def fits(self, count: int) -> bool:
        return not self.limit or self._size + count <= self.limit

    def append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._parts.append(samples)
            self._size += len(samples)

    def _joined(self) -> np.ndarray:
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)]
        return self._parts[0]

    def slice(self, begin: int, until: int) -> np.ndarray:
        """The samples in [begin, until), clipped to what the buffer holds (a view: copy to keep)."""
        joined = self._joined()
        return joined[max(begin, self.start) - self.start : min(until, self.end) - self.start]

    def drop(self, until: int) -> None:
        """Forget everything before ``until``."""
        count = min(max(until - self.start, 0), self._size)
        if count:
            self._parts = [self._joined()[count:].copy()]  # copy: release the dropped samples
            self._size -= count
            self.start += count

    def clear(self) -> None:
        self.drop(self.end)


def windows(
    source: Path | BinaryIO,
    *,
    chunk_seconds: float,
    overlap_seconds: float,
    threshold_seconds: float,
    max_seconds: float = 0,
) -> Iterator[Window]:
    """Decode ``source`` (a path or a file) into windows; raises a 400 APIError when it is not
    audio, is empty or is longer than ``max_seconds`` (0: no limit)."""
    return _windows(
        _frames(source, max_seconds), chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
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
    buffer = SampleBuffer()
    exhausted = False

    def fill(target: int) -> None:
        nonlocal exhausted
        while len(buffer) < target and not exhausted:
            block = next(blocks, None)
            if block is None:
                exhausted = True
            else:
                buffer.append(block)

    fill(max(threshold, chunk) + 1)
    if len(buffer) == 0:
        raise invalid("The file contains no audio samples (it is empty or truncated).", "file", "empty_audio")
    if exhausted and len(buffer) <= threshold:
        yield Window(0, buffer.slice(buffer.start, buffer.end), last=True)
        return
    while True:
        fill(chunk + 1)  # one sample more tells whether another window follows
        last = exhausted and len(buffer) <= chunk
        yield Window(buffer.start, buffer.slice(buffer.start, buffer.start + chunk), last=last)
        if last:
            return
        buffer.drop(buffer.start + step)
