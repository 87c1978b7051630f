"""Whisper's encoder run again over transcribed segments, for what needs the audio and the text
together: Whisper's own word timestamps (``asr.word_timestamps``) and the decoder's token
probabilities (``asr.logprobs``).

WhisperX's batched decoding keeps neither the encoder output nor the tokens, so each segment's
audio is encoded again (one encoder pass, no second decode) from the same log-mel features
WhisperX decoded from, in batches, and its text is tokenized again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr.models import WhisperModel
from common.lifecycle import CancelToken


@dataclass
class EncodedBatch:
    """Segments encoded together: ``indices`` into the segment list, with each one's ``seek``
    (the mel frame its clip starts at) and ``frames`` (its clip's length in mel frames)."""

    indices: list[int]
    seeks: list[int]
    frames: list[int]
    encoder_output: Any  # ctranslate2.StorageView, one row per segment


def encoded_segments(
    model: WhisperModel, segments: list[dict[str, Any]], samples: np.ndarray, batch_size: int, token: CancelToken
) -> Iterator[EncodedBatch]:
    """The segments that have tokens (times in seconds of ``samples``), encoded ``batch_size`` at a
    time; the cancel token is checked before each batch."""
    whisper = model.pipeline.model  # a faster_whisper.WhisperModel
    hop = whisper.feature_extractor.hop_length
    max_frames = whisper.feature_extractor.nb_max_frames
    spoken = [index for index, segment in enumerate(segments) if segment["tokens"]]
    for first in range(0, len(spoken), batch_size):
        token.check()
        batch = spoken[first : first + batch_size]
        features, seeks, frames = [], [], []
        for index in batch:
            segment = segments[index]
            # Whole mel frames, so that faster-whisper's frame offset is exactly where the clip starts.
            seek = round(segment["start"] * whisper.frames_per_second)
            clip = samples[seek * hop : round(segment["end"] * whisper.feature_extractor.sampling_rate)]
            # The same log-mel features WhisperX decoded from.
            features.append(np.asarray(model.pipeline.preprocess({"inputs": clip})["inputs"]))
            seeks.append(seek)
            frames.append(min(max_frames, math.ceil(len(clip) / hop)))
        yield EncodedBatch(batch, seeks, frames, whisper.encode(np.stack(features)))
