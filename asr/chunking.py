"""Long audio in chunks: where to cut, and keeping speaker labels consistent across chunks.

Windows overlap by ``CHUNK_OVERLAP_SECONDS``. The cut between two windows is placed at the
quietest moment of their overlap, and each window transcribes only the audio between its two
cuts: no word is split by a cut and no audio is transcribed twice, so overlap text is never
duplicated. Diarization runs on the whole window, overlap included, and each window's speakers
are matched to the previous window's by how long they speak together in the overlap; a speaker
who is silent in the overlap is matched by voice (cosine similarity of the diarization model's
speaker embeddings) to the speakers heard so far. A speaker heard for the first time takes the
name of the closest known speaker's voice (``known_speaker_names[]``), when close enough to be
that voice and not yet given to another; else a label of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asr.audio import SAMPLE_RATE, Window

_FRAME = SAMPLE_RATE // 50  # 20 ms energy frames
SAME_VOICE_SIMILARITY = 0.5  # cosine similarity above which two speaker embeddings are one voice


def quietest_sample(samples: np.ndarray) -> int:
    """Index (the middle of the quietest 20 ms frame) in ``samples``."""
    frames = len(samples) // _FRAME
    if frames == 0:
        return len(samples) // 2
    energy = np.square(samples[: frames * _FRAME].reshape(frames, _FRAME), dtype=np.float64).sum(axis=1)
    return int(np.argmin(energy)) * _FRAME + _FRAME // 2


def cut_after(window: Window, overlap_seconds: float) -> int:
    """Absolute sample where this window's transcription ends (the next one's begins)."""
    if window.last:
        return window.offset + len(window.samples)
    overlap = int(overlap_seconds * SAMPLE_RATE)
    tail = window.samples[len(window.samples) - overlap :]
    return window.offset + len(window.samples) - overlap + quietest_sample(tail)


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float


def _overlap(a: Turn, b: Turn, lo: float, hi: float) -> float:
    return max(0.0, min(a.end, b.end, hi) - max(a.start, b.start, lo))


class SpeakerLabels:
    """Gives each window's local speaker labels the labels used so far in the file."""

    def __init__(self) -> None:
        self._previous: list[Turn] = []
        self._voices: dict[str, np.ndarray] = {}  # file-wide label -> unit speaker embedding
        self._known: set[str] = set()
        self._named: dict[str, np.ndarray] = {}  # known speaker's name -> unit embedding of their voice

    def name_after(self, voices: dict[str, list[float]]) -> None:
        """Known speakers: name -> the diarization model's embedding of their voice."""
        self._named = {name: _unit(vector) for name, vector in voices.items()}

    def relabel(
        self,
        turns: list[Turn],
        overlap_start: float,
        overlap_end: float,
        embeddings: dict[str, list[float]] | None = None,
    ) -> dict[str, str]:
        """Map this window's labels (turns in absolute seconds) to file-wide labels."""
        embeddings = embeddings or {}
        shared: dict[tuple[str, str], float] = {}
        for mine in turns:
            for theirs in self._previous:
                seconds = _overlap(mine, theirs, overlap_start, overlap_end)
                if seconds > 0:
                    key = (mine.speaker, theirs.speaker)
                    shared[key] = shared.get(key, 0.0) + seconds
        mapping: dict[str, str] = {}
        # Greedy one-to-one matching, longest shared speaking time first, then closest voice.
        for (mine, theirs), _ in sorted(shared.items(), key=lambda item: -item[1]):
            if mine not in mapping and theirs not in mapping.values():
                mapping[mine] = theirs
        voices = {label: _unit(vector) for label, vector in embeddings.items() if label not in mapping}
        # Voices heard before, then the known speakers' (each name once in the file).
        unnamed = {name: voice for name, voice in self._named.items() if name not in self._known}
        for candidates in (self._voices, unnamed):
            similar = [
                (float(voice @ known), mine, theirs)
                for mine, voice in voices.items()
                for theirs, known in candidates.items()
            ]
            for similarity, mine, theirs in sorted(similar, reverse=True):
                if similarity >= SAME_VOICE_SIMILARITY and mine not in mapping and theirs not in mapping.values():
                    mapping[mine] = theirs
        for label in sorted({t.speaker for t in turns} | set(embeddings)):
            if label not in mapping:
                mapping[label] = label if label not in self._known else self._fresh()
            self._known.add(mapping[label])
        for label, vector in embeddings.items():
            self._voices.setdefault(mapping[label], _unit(vector))
        self._previous = [Turn(mapping[t.speaker], t.start, t.end) for t in turns]
        return mapping

    def _fresh(self) -> str:
        index = 0
        while f"SPEAKER_{index:02d}" in self._known:
            index += 1
        return f"SPEAKER_{index:02d}"


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(array)
    return array / norm if norm > 0 else array


def shift(segments: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """Move window-relative segment (and word) times to file time."""
    for segment in segments:
        for item in (segment, *segment.get("words", ())):
            for key in ("start", "end"):
                if item.get(key) is not None:
                    item[key] = round(item[key] + seconds, 3)
    return segments
