"""Split input text into sentences: the unit that is synthesized, and streamed, at a time."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?;:。！？；…])\s+|\n+")
_CLAUSE_END = re.compile(r"(?<=[,，、])\s+")
# C0/C1 control characters other than tab and line breaks: nothing to say, and a NUL crashes
# espeak-ng (Piper's phonemizer).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _pack(units: list[str], max_chars: int) -> list[str]:
    """Join consecutive units with spaces into pieces of at most ``max_chars`` (when units fit)."""
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if len(candidate) <= max_chars:
            current = candidate
        else:
            if current:
                pieces.append(current)
            current = unit
    if current:
        pieces.append(current)
    return pieces


def _fit(sentence: str, max_chars: int) -> list[str]:
    """A too-long sentence breaks at clause boundaries first, then between words, then anywhere."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    for clause in _pack(_CLAUSE_END.split(sentence), max_chars):
        if len(clause) <= max_chars:
            pieces.append(clause)
            continue
        words = [w[i : i + max_chars] for w in clause.split() for i in range(0, len(w), max_chars)]
        pieces += _pack(words, max_chars)
    return pieces


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Non-empty sentences of at most ``max_chars`` characters, in order."""
    sentences = [s.strip() for s in _SENTENCE_END.split(_CONTROL.sub(" ", text))]
    return [piece for s in sentences if s for piece in _fit(s, max_chars)]
