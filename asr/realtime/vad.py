"""Server VAD for realtime sessions: Silero VAD scores the stream, a small state machine turns the
scores into speech started / stopped.

The model is Silero VAD v6 as faster-whisper ships it, an ONNX file inside its package, run with
onnxruntime: nothing is downloaded. It is a 2 MB model, loaded once per process on first use and
kept (it is not the Whisper model the inference slot governs). Scoring runs in the session's
worker thread; the state machine is plain Python on the event loop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.realtime_config import ServerVad

FRAME = 512  # Silero scores 32 ms frames at 16 kHz ...
CONTEXT = 64  # ... each together with the 64 samples before it
SAMPLES_PER_MS = 16
NEGATIVE_OFFSET = 0.15  # silence is a score below threshold - 0.15 (faster-whisper's hysteresis)


@functools.cache
def _model() -> Any:
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=options)


class SpeechScores:
    """Silero VAD over a stream. The model's recurrent state and the context carry over between
    calls, so audio scored in pieces gets the scores it would get in one piece. One caller at a time."""

    def __init__(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each complete frame (float32 16 kHz input); a partial frame
        waits for the next call."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        count = len(data) // FRAME
        self._pending = data[count * FRAME :].copy()
        if not count:
            return np.zeros(0, np.float32)
        frames = data[: count * FRAME].reshape(count, FRAME).astype(np.float32, copy=False)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT:]])
        scores, self._h, self._c = _model().run(
            None, {"input": np.concatenate([contexts, frames], axis=1), "h": self._h, "c": self._c}
        )
        self._context = frames[-1, -CONTEXT:].copy()
        return np.asarray(scores, np.float32).reshape(-1)


@dataclass(frozen=True)
class SpeechStarted:
    at: int  # sample (since the session began) of the first speech frame


@dataclass(frozen=True)
class SpeechStopped:
    at: int  # where the silence had lasted silence_duration_ms: the end of the turn's audio
    speech_end: int  # where that silence began


class TurnDetector:
    """Speech starts on a frame scored at least ``threshold``; it stops once frames scored below
    ``threshold - 0.15`` have lasted ``silence_duration_ms`` with no frame at ``threshold`` between.
    ``position`` is the session sample the next frame starts at."""

    def __init__(self, vad: ServerVad, position: int) -> None:
        self.position = position
        self.speaking = False
        self.silence_start: int | None = None  # while speaking: where the current silence began
        self.configure(vad)

    def configure(self, vad: ServerVad) -> None:
        self.threshold = vad.threshold
        self.negative = max(vad.threshold - NEGATIVE_OFFSET, 0.01)
        self.silence = vad.silence_duration_ms * SAMPLES_PER_MS

    def reset(self) -> None:
        """Forget the current turn (committed or cleared by the client)."""
        self.speaking = False
        self.silence_start = None

    def feed(self, scores: np.ndarray) -> list[SpeechStarted | SpeechStopped]:
        events: list[SpeechStarted | SpeechStopped] = []
        for score in scores.tolist():
            start = self.position
            self.position += FRAME
            if not self.speaking:
                if score >= self.threshold:
                    self.speaking = True
                    events.append(SpeechStarted(start))
                continue
            if score >= self.threshold:
                self.silence_start = None
                continue
            if score < self.negative and self.silence_start is None:
                self.silence_start = start
            if self.silence_start is not None and self.position - self.silence_start >= self.silence:
                events.append(SpeechStopped(self.position, self.silence_start))
                self.reset()
        return events
