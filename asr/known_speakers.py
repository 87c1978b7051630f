"""``known_speaker_names[]`` / ``known_speaker_references[]``: diarized speakers named after
reference clips of their voices.

Each reference (a data URL of 2-10 s of audio) is decoded before the request waits for the
inference slot, so a bad one is refused at once. Once the diarization pipeline is loaded, each is
diarized as one speaker by that same pipeline, whose speaker embedding of it is the voice the
name stands for; ``asr.chunking.SpeakerLabels`` gives a diarized speaker the name whose voice is
closest to theirs, when it is close enough to be the same voice.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr.audio import SAMPLE_RATE
from common.api_types import TranscriptionForm, data_url_audio
from common.decoding import TooLong, Undecodable, decoded_blocks
from common.errors import APIError, invalid
from common.lifecycle import CancelToken

MIN_SECONDS = 2.0  # OpenAI's bounds for a reference
MAX_SECONDS = 10.0
PARAM = "known_speaker_references[]"


@dataclass(frozen=True)
class KnownSpeaker:
    name: str
    samples: np.ndarray  # 16 kHz mono float32


def _refused(index: int, problem: str) -> APIError:
    return invalid(
        f"Known speaker reference {index} ({problem}): send {MIN_SECONDS:g} to {MAX_SECONDS:g} s of that "
        "speaker's voice as a data URL of audio, e.g. 'data:audio/wav;base64,UklGR...'.",
        PARAM,
    )


def decode_references(params: TranscriptionForm) -> list[KnownSpeaker]:
    """The request's known speakers with their audio; 400 naming the bad reference otherwise."""
    known = []
    for index, (name, url) in enumerate(zip(params.known_speaker_names, params.known_speaker_references, strict=True)):
        try:
            blocks = list(decoded_blocks(io.BytesIO(data_url_audio(url)), SAMPLE_RATE, MAX_SECONDS))
        except Undecodable as exc:
            raise _refused(index, f"not decodable as audio: {exc.reason}") from None
        except TooLong:
            raise _refused(index, f"longer than {MAX_SECONDS:g} s") from None
        samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        if len(samples) < MIN_SECONDS * SAMPLE_RATE:
            raise _refused(index, f"{len(samples) / SAMPLE_RATE:.2f} s long, shorter than {MIN_SECONDS:g} s")
        known.append(KnownSpeaker(name, samples))
    return known


def voices(pipeline: Any, known: list[KnownSpeaker], token: CancelToken) -> dict[str, list[float]]:
    """Each known speaker's voice: the diarization pipeline's embedding of the one speaker it hears
    in the reference (the one heard longest, should it hear more)."""
    out = {}
    for index, speaker in enumerate(known):
        token.check()
        frame, embeddings = pipeline(speaker.samples, num_speakers=1, return_embeddings=True)
        if frame.empty or not embeddings:
            raise _refused(index, "no speech was heard in it")
        durations = (frame["end"] - frame["start"]).groupby(frame["speaker"]).sum()
        out[speaker.name] = embeddings[str(durations.idxmax())]
    return out
