"""Decoding any container/codec FFmpeg reads (PyAV, in process) to mono float32 samples, with a
bound on how much audio may come out: the backends' one decoder (ASR uploads, TTS voice samples).
PyAV is imported when audio is first decoded; the gateway never imports this module."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np


class Undecodable(Exception):
    """Not audio FFmpeg can decode; ``reason`` says why, without file names."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLong(Exception):
    """More audio than ``max_seconds``."""


def _reason(exc: Exception) -> str:
    # FFmpeg's message without the (temporary) file's name, which means nothing to a client.
    return str(getattr(exc, "strerror", None) or type(exc).__name__).lower()


def decoded_blocks(source: Path | BinaryIO, rate: int, max_seconds: float = 0) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``rate`` of the first audio stream of ``source``, at most
    ``max_seconds`` of them (0: no limit). Raises Undecodable or TooLong."""
    import av

    try:
        container = av.open(str(source) if isinstance(source, Path) else source, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise Undecodable(_reason(exc)) from None
    with container:
        if not container.streams.audio:
            raise Undecodable("it has no audio stream")
        # The declared length refuses most bombs at once; counting what decodes catches the rest.
        if max_seconds and (container.duration or 0) / av.time_base > max_seconds:
            raise TooLong
        limit = int(max_seconds * rate) if max_seconds else None
        decoded = 0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in itertools.chain(container.decode(audio=0), [None]):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1)
                    decoded += len(block)
                    if limit is not None and decoded > limit:
                        raise TooLong
                    yield block
        except av.error.FFmpegError as exc:
            raise Undecodable(_reason(exc)) from None
