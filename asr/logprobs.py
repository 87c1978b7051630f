"""``include[]=logprobs``: the log probability of each of Whisper's tokens in the transcript.

The probabilities are the decoder's own: each segment's text is tokenized again (WhisperX keeps
no tokens) and scored by CTranslate2's ``Whisper.align`` (``text_token_probs``, what
faster-whisper averages into word probabilities) against the segment's audio, encoded again
(``asr.encoding``), after the very prompt WhisperX decoded it with (hotwords, prompt, SOT
sequence, no timestamps): the probability of each token given the audio and the tokens before it.

Whisper's tokens are byte-level BPE: a token is raw bytes, and a character of more than one byte
may span tokens. Each ``TokenLogprob`` carries its token's bytes, and as ``token`` the text those
bytes complete, so that the tokens always join to the transcript (a token that only begins a
character has the empty string). The first token's leading space, which Whisper writes before every
word, is dropped like the transcript's.
"""

from __future__ import annotations

import codecs
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from asr.encoding import encoded_segments
from asr.models import WhisperModel
from common.lifecycle import CancelToken
from common.resources import TokenLogprob

Scored = tuple[bytes, float]  # a token's bytes and its log probability


def segment_logprobs(
    model: WhisperModel, segments: list[dict[str, Any]], samples: np.ndarray, language: str, batch_size: int,
    token: CancelToken,
) -> list[Scored]:  # fmt: skip
    """Every token of ``segments`` (their ``tokens``: each segment's text after a space), in order."""
    whisper = model.pipeline.model  # a faster_whisper.WhisperModel
    tokenizer = model.tokenizer(language)
    prompt = model.decoding_prompt(tokenizer)
    vocabulary = whisper.hf_tokenizer
    scored: dict[int, list[Scored]] = {}
    for batch in encoded_segments(model, segments, samples, batch_size, token):
        texts = [segments[index]["tokens"] for index in batch.indices]
        results = whisper.model.align(batch.encoder_output, prompt, texts, batch.frames)
        for index, ids, result in zip(batch.indices, texts, results, strict=True):
            scored[index] = [
                (token_bytes(vocabulary, token_id), math.log(max(float(probability), 1e-45)))
                for token_id, probability in zip(ids, result.text_token_probs, strict=True)
            ]
    return [item for index in range(len(segments)) for item in scored.get(index, ())]


def token_bytes(vocabulary: Any, token_id: int) -> bytes:
    """The raw bytes of a byte-level BPE token (a ``tokenizers.Tokenizer``'s vocabulary entry
    spells each byte as one character, GPT-2's way)."""
    return bytes(_byte_of()[char] for char in vocabulary.id_to_token(token_id))


@functools.cache
def _byte_of() -> dict[str, int]:
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def rendered(scored: Sequence[Scored]) -> list[TokenLogprob]:
    """The public shape of a transcript's tokens: each with the text its bytes complete, the first
    without its leading space."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = []
    for index, (data, logprob) in enumerate(scored):
        if index == 0:
            data = data.removeprefix(b" ")
        out.append(TokenLogprob(token=decoder.decode(data), logprob=round(logprob, 6), bytes=list(data)))
    return out


def between(tokens: Sequence[TokenLogprob], start: int, end: int) -> list[TokenLogprob]:
    """The tokens whose text starts in characters [start, end) of the text they join to (a token
    that only begins a character goes with the character)."""
    out = []
    position = 0
    for item in tokens:
        if start <= position < end:
            out.append(item)
        position += len(item.token)
    return out
