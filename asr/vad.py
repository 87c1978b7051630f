"""Where the speech is: the voice activity detection WhisperX cuts the audio with before decoding.

Silero VAD v6 as faster-whisper ships it (an ONNX file inside its package, run with onnxruntime
by ``faster_whisper.vad``: nothing is downloaded), given to WhisperX through its own extension
point, a ``whisperx.vads.Vad`` passed as ``vad_model`` to ``whisperx.load_model``. WhisperX then
packs the speech regions into spans of up to 30 s (Whisper's window) and decodes them in batches.

How speech is found is a per-request input (``VadParameters``, OpenAI's ``server_vad`` fields):
a region starts where a 32 ms frame scores ``threshold``, ``prefix_padding_ms`` of audio before
it included, and ends once ``silence_duration_ms`` of silence has followed it; a shorter pause
does not split it. The region keeps that silence, as a realtime turn keeps the silence that ended
it, so a cut never clips a word's tail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model
from whisperx.diarize import Segment
from whisperx.vads import Vad

from common.api_types import VadParameters

WINDOW_SECONDS = 30.0  # Whisper decodes 30 s at a time; WhisperX's spans never exceed it


class SileroVad(Vad):
    """WhisperX's VAD interface over faster-whisper's Silero VAD. ``parameters`` are set per
    request (one inference at a time, so setting them is safe)."""

    def __init__(self) -> None:
        super().__init__(VadParameters().threshold)
        get_vad_model()  # load the ONNX model now, as part of the pipeline's load (kept per process)
        self.parameters = VadParameters()

    def __call__(self, audio: Mapping[str, Any], **kwargs: Any) -> list[Segment]:
        """Speech regions of ``{"waveform": float32 samples, "sample_rate": 16000}``, in seconds."""
        samples: np.ndarray = audio["waveform"]
        rate: int = audio["sample_rate"]
        return speech_regions(samples, rate, self.parameters)

    @staticmethod
    def preprocess_audio(audio: np.ndarray) -> np.ndarray:
        return audio

    @staticmethod
    def merge_chunks(segments: list[Segment], chunk_size: float, onset: float, offset: float | None) -> list[dict]:
        """WhisperX's packing into spans of up to ``chunk_size`` s; no speech, no spans."""
        return Vad.merge_chunks(segments, chunk_size, onset, offset) if segments else []


def speech_regions(samples: np.ndarray, rate: int, parameters: VadParameters) -> list[Segment]:
    """The regions ``parameters`` find in ``samples``, padded, each at most one Whisper window long."""
    prefix = parameters.prefix_padding_ms / 1000
    silence = parameters.silence_duration_ms / 1000
    duration = len(samples) / rate
    options = VadOptions(
        threshold=parameters.threshold,
        min_silence_duration_ms=parameters.silence_duration_ms,
        speech_pad_ms=0,  # padded below: the prefix before, the silence that ended the speech after
        # Longer speech is split (at its last pause, if it has one) so that it fits the window padded.
        max_speech_duration_s=max(WINDOW_SECONDS - prefix - silence, WINDOW_SECONDS / 2),
    )
    speeches = get_speech_timestamps(samples, options, rate)
    starts = [max(0.0, speech["start"] / rate - prefix) for speech in speeches]
    regions = []
    for index, (start, speech) in enumerate(zip(starts, speeches, strict=True)):
        following = starts[index + 1] if index + 1 < len(starts) else duration  # regions never overlap
        end = min(following, speech["end"] / rate + silence, start + WINDOW_SECONDS)
        regions.append(Segment(start, end, "UNKNOWN"))
    return regions
