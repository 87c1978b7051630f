"""``python -m tests.asr.diarization_standin``: the real ASR service with pyannote's pipeline
replaced by a local stand-in.

Why a stand-in: the pyannote diarization pipeline is gated on the Hugging Face hub (it needs a
token and a download), so it cannot exist here. Only ``pyannote.audio.Pipeline.from_pretrained``
is replaced; WhisperX's ``DiarizationPipeline`` (DataFrame building), ``assign_word_speakers``
and all of the service's code run for real.

The stand-in "hears" two voices by loudness: speech louder than ``LOUD_RMS`` is one speaker,
quieter speech another. Like pyannote, it names speakers SPEAKER_00, SPEAKER_01, … in the order
they first speak *within the audio it is given*, so a chunk that starts with the other voice gets
different local labels, which the service must map back to file-wide ones. ``max_speakers`` caps
the number of labels (like pyannote's clustering); ``min_speakers`` is recorded in the log. Its
speaker embeddings are one-hot per voice, so the same voice has the same embedding in every chunk.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import numpy as np

FRAME_SECONDS = 0.1
SPEECH_RMS = 0.003  # frames above this are speech
MAX_GAP_SECONDS = 0.4  # shorter pauses stay inside one turn
LOUD_RMS = 0.05  # a turn whose mean frame RMS is above this is the loud voice
log = logging.getLogger("diarization-standin")


class StandInPipeline:
    def to(self, _device: Any) -> StandInPipeline:
        return self

    def __call__(self, file: dict[str, Any], num_speakers=None, min_speakers=None, max_speakers=None, **_: Any):  # type: ignore[no-untyped-def]
        from pyannote.core import Annotation, Segment

        log.info("stand-in diarization: min_speakers=%s max_speakers=%s", min_speakers, max_speakers)
        samples = file["waveform"][0].numpy()
        hop = int(FRAME_SECONDS * file["sample_rate"])
        frames = len(samples) // hop
        rms = np.sqrt(np.mean(np.square(samples[: frames * hop].reshape(frames, hop)), axis=1))
        annotation = Annotation()
        labels: dict[bool, str] = {}
        for first, last in _turns(rms > SPEECH_RMS, round(MAX_GAP_SECONDS / FRAME_SECONDS)):
            loud = bool(rms[first:last].mean() >= LOUD_RMS)
            if loud not in labels:
                labels[loud] = f"SPEAKER_{min(len(labels), (max_speakers or 99) - 1):02d}"
            annotation[Segment(first * FRAME_SECONDS, last * FRAME_SECONDS)] = labels[loud]
        # pyannote returns one embedding row per label, in the order of annotation.labels().
        embeddings = np.array([[1.0, 0.0] if loud else [0.0, 1.0] for loud in sorted(labels, key=labels.get)])
        return SimpleNamespace(speaker_diarization=annotation, speaker_embeddings=embeddings)


def _turns(speech: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """[first, last) frame ranges of speech, bridging gaps shorter than ``max_gap`` frames."""
    turns: list[tuple[int, int]] = []
    for index in np.flatnonzero(speech):
        if turns and index - turns[-1][1] < max_gap:
            turns[-1] = (turns[-1][0], index + 1)
        else:
            turns.append((int(index), int(index) + 1))
    return turns


def install() -> None:
    from pyannote.audio import Pipeline

    Pipeline.from_pretrained = classmethod(lambda cls, *args, **kwargs: StandInPipeline())  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from asr.__main__ import main

    main()
