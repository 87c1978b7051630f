"""Pitch-preserving time stretch (ffmpeg's atempo through PyAV), chunk by chunk.

For engines without a speed control of their own that is exact: Piper's length_scale stretches
phonemes but not pauses, so speed 4 would come out at about 2.5x.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import av
import numpy as np


def _factors(speed: float) -> list[float]:
    # One atempo instance handles 0.5..100; slower speeds chain two.
    return [0.5, speed / 0.5] if speed < 0.5 else [speed]


def stretch(chunks: Iterator[np.ndarray], rate: int, speed: float) -> Iterator[np.ndarray]:
    """``chunks`` of mono float PCM played ``speed`` times faster, same pitch, same rate."""
    if speed == 1.0:
        yield from chunks
        return
    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(format="flt", sample_rate=rate, layout="mono")]
    nodes += [graph.add("atempo", f"{factor:.6f}") for factor in _factors(speed)]
    nodes.append(graph.add("abuffersink"))
    for upstream, downstream in itertools.pairwise(nodes):
        upstream.link_to(downstream)
    graph.configure()

    def drain() -> Iterator[np.ndarray]:
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            yield frame.to_ndarray().reshape(-1)

    for chunk in chunks:
        if chunk.size == 0:
            continue
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = rate
        graph.push(frame)
        yield from drain()
    graph.push(None)
    yield from drain()
