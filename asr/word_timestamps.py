"""Word timestamps from Whisper itself, for when no WhisperX alignment model is at hand.

faster-whisper's own word timestamps (``word_timestamps=True``): a forced alignment of the
transcribed tokens against the audio through the decoder's cross-attention heads (dynamic time
warping), with its heuristics for word boundaries and punctuation. WhisperX's batched decoding
keeps neither the encoder output nor the tokens, so each speech segment is encoded again (one
encoder pass, no second decode) and its text tokens are aligned against it, in batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asr.models import WhisperModel
from common.lifecycle import CancelToken


def whisper_words(
    model: WhisperModel, segments: list[dict[str, Any]], samples: np.ndarray, language: str, batch_size: int,
    token: CancelToken,
) -> list[dict[str, Any]]:  # fmt: skip
    """``segments`` (times in seconds of ``samples``) with their ``words``; times stay inside each segment."""
    from faster_whisper.tokenizer import Tokenizer

    whisper = model.pipeline.model  # a faster_whisper.WhisperModel
    tokenizer = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language=language)
    options = model.pipeline.options
    hop = whisper.feature_extractor.hop_length
    max_frames = whisper.feature_extractor.nb_max_frames
    spoken = [index for index, segment in enumerate(segments) if segment["tokens"]]
    words: dict[int, list[dict[str, Any]]] = {}
    last_speech = 0.0
    for first in range(0, len(spoken), batch_size):
        token.check()
        batch = spoken[first : first + batch_size]
        items, features, frames = [], [], []
        for index in batch:
            segment = segments[index]
            # Whole mel frames, so that faster-whisper's frame offset is exactly where the clip starts.
            seek = round(segment["start"] * whisper.frames_per_second)
            clip = samples[seek * hop : round(segment["end"] * whisper.feature_extractor.sampling_rate)]
            # The same log-mel features WhisperX decoded from.
            features.append(np.asarray(model.pipeline.preprocess({"inputs": clip})["inputs"]))
            frames.append(min(max_frames, math.ceil(len(clip) / hop)))
            items.append([{key: segment[key] for key in ("start", "end", "tokens")} | {"seek": seek}])
        encoder_output = whisper.encode(np.stack(features))
        last_speech = whisper.add_word_timestamps(
            items, tokenizer, encoder_output, frames, options.prepend_punctuations, options.append_punctuations,
            last_speech,
        )  # fmt: skip
        for index, [item] in zip(batch, items, strict=True):
            words[index] = [_inside(w["word"].strip(), w["start"], w["end"], segments[index]) for w in item["words"]]
    return [{**segment, "words": words.get(index, [])} for index, segment in enumerate(segments)]


def _inside(word: str, start: float, end: float, segment: dict[str, Any]) -> dict[str, Any]:
    """Clamp a word into its segment: faster-whisper may stretch the last word past the speech."""
    start = min(max(float(start), segment["start"]), segment["end"])
    return {"word": word, "start": round(start, 3), "end": round(min(max(float(end), start), segment["end"]), 3)}
