"""Word timestamps from Whisper itself, for when no WhisperX alignment model is at hand.

faster-whisper's own word timestamps (``word_timestamps=True``): a forced alignment of the
transcribed tokens against the audio through the decoder's cross-attention heads (dynamic time
warping), with its heuristics for word boundaries and punctuation, over each segment's audio
encoded again (``asr.encoding``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asr.encoding import encoded_segments
from asr.models import WhisperModel
from common.lifecycle import CancelToken


def whisper_words(
    model: WhisperModel, segments: list[dict[str, Any]], samples: np.ndarray, language: str, batch_size: int,
    token: CancelToken,
) -> list[dict[str, Any]]:  # fmt: skip
    """``segments`` (times in seconds of ``samples``) with their ``words``; times stay inside each segment."""
    whisper = model.pipeline.model  # a faster_whisper.WhisperModel
    tokenizer = model.tokenizer(language)
    options = model.pipeline.options
    words: dict[int, list[dict[str, Any]]] = {}
    last_speech = 0.0
    for batch in encoded_segments(model, segments, samples, batch_size, token):
        items = [
            [{key: segments[index][key] for key in ("start", "end", "tokens")} | {"seek": seek}]
            for index, seek in zip(batch.indices, batch.seeks, strict=True)
        ]
        last_speech = whisper.add_word_timestamps(
            items, tokenizer, batch.encoder_output, batch.frames, options.prepend_punctuations,
            options.append_punctuations, last_speech,
        )  # fmt: skip
        for index, [item] in zip(batch.indices, items, strict=True):
            words[index] = [_inside(w["word"].strip(), w["start"], w["end"], segments[index]) for w in item["words"]]
    return [{**segment, "words": words.get(index, [])} for index, segment in enumerate(segments)]


def _inside(word: str, start: float, end: float, segment: dict[str, Any]) -> dict[str, Any]:
    """Clamp a word into its segment: faster-whisper may stretch the last word past the speech."""
    start = min(max(float(start), segment["start"]), segment["end"])
    return {"word": word, "start": round(start, 3), "end": round(min(max(float(end), start), segment["end"]), 3)}
