"""The WhisperX pipeline for one request: decode → transcribe → align → diarize, window by window.

Runs inside a ``ModelRuntime`` session: models come from ``session.model`` (loaded on demand,
unloaded by the runtime), blocking work runs through ``session.run`` and checks the session's
cancel token between windows and between WhisperX's segment batches, so a client that goes
away stops the work.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from asr import audio, chunking, known_speakers, loudness, models
from asr.chunking import SpeakerLabels, Turn
from asr.known_speakers import KnownSpeaker
from asr.languages import detect_among
from asr.logprobs import Scored, segment_logprobs
from asr.settings import SERVICE, Settings
from asr.word_timestamps import whisper_words
from common.api_types import TranscriptionForm
from common.errors import APIError, invalid
from common.lifecycle import CancelToken, Session
from common.metrics import AUDIO_SECONDS

log = logging.getLogger(__name__)
Task = Literal["transcribe", "translate"]
WHISPER_WINDOW_SECONDS = 30  # what WhisperX packs speech regions into, unless a chunking strategy is given
TRANSCRIBED = AUDIO_SECONDS.labels(SERVICE, "transcribed")


@dataclass
class Transcript:
    """What the response formats are made from; times are in seconds of the whole file."""

    task: str
    language: str = "en"
    duration: float = 0.0
    temperature: float = 0.0
    segments: list[dict[str, Any]] = field(default_factory=list)
    diarization: list[Turn] | None = None
    token_logprobs: list[Scored] | None = None  # with include[]=logprobs: every token, in order

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.segments if s["text"])

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.diarization or ()})


def diarization_token_error() -> APIError:
    return APIError(
        503,
        "Speaker diarization needs a Hugging Face token: set HF_TOKEN for the ASR service (and accept the "
        "terms of the pyannote model named by WHISPERX_DIARIZATION_MODEL on huggingface.co), or send "
        "diarize=false.",
        code="diarization_unavailable",
        permanent=True,
    )


def _transcribe(
    model: models.WhisperModel, samples: np.ndarray, params: TranscriptionForm, task: Task, language: str | None,
    batch_size: int, token: CancelToken,
) -> tuple[list[dict[str, Any]], str]:  # fmt: skip
    model.configure(
        prompt=params.prompt, temperature=params.temperature, vad=params.vad, hotwords=_hotwords(model, params.keywords)
    )
    if not model.multilingual:
        if params.languages and "en" not in params.languages:
            raise invalid(
                "The ASR model is English-only: 'languages[]' must include 'en' (or set WHISPERX_MODEL to a "
                "multilingual model).",
                "languages[]",
                "unsupported_language",
            )
        language = "en"  # English-only models cannot detect or translate
    elif language is None and params.languages:
        language = detect_among(model, samples, params.languages)
    result = model.pipeline.transcribe(
        samples, batch_size=batch_size, language=language, task=task,
        # With a chunking strategy, each region the VAD finds is decoded on its own (WhisperX packs
        # none together under a chunk size of 0); without one, regions are packed into 30 s spans.
        chunk_size=0 if params.chunking_strategy is not None else WHISPER_WINDOW_SECONDS,
        progress_callback=lambda _: token.check(),  # called between segment batches
    )  # fmt: skip
    segments = []
    for raw in result["segments"]:
        text = raw["text"].strip()
        segments.append(
            {
                "start": raw["start"], "end": raw["end"], "text": text,
                "avg_logprob": float(raw.get("avg_logprob", 0.0)),
                "tokens": model.tokens(" " + text) if text else [],
                "compression_ratio": _compression_ratio(text),
            }
        )  # fmt: skip
    return segments, result["language"]


def _hotwords(model: models.WhisperModel, keywords: list[str]) -> str | None:
    """``keywords[]`` as faster-whisper's hotwords: one phrase after ``sot_prev`` in the decoding
    prompt; 400 when they do not fit (faster-whisper would silently cut them)."""
    if not keywords:
        return None
    hotwords = ", ".join(keyword.strip() for keyword in keywords)
    count, budget = len(model.tokens(" " + hotwords)), model.max_hotword_tokens
    if count > budget:
        raise invalid(
            f"The keywords come to {count} of Whisper's tokens; at most {budget} fit in its prompt. "
            "Send fewer or shorter keywords.",
            "keywords[]",
        )
    return hotwords


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return round(len(data) / len(zlib.compress(data)), 3) if data else 0.0


def _align(
    align: tuple[Any, dict[str, Any]], segments: list[dict[str, Any]], samples: np.ndarray, device: str,
    token: CancelToken,
) -> list[dict[str, Any]]:  # fmt: skip
    import whisperx

    token.check()
    model, metadata = align
    aligned = whisperx.align(segments, model, metadata, samples, device, return_char_alignments=False)
    by_start = {round(s["start"], 3): s for s in segments}
    out = []
    for segment in aligned["segments"]:
        words = _complete_words(segment.get("words", []), segment["start"], segment["end"])
        # Keep the decoding statistics the aligner drops (verbose_json reports them).
        source = by_start.get(round(segment["start"], 3), {})
        out.append(
            {
                **{k: source[k] for k in ("avg_logprob", "tokens", "compression_ratio") if k in source},
                "start": segment["start"], "end": segment["end"], "text": segment["text"].strip(),
                "words": words,
            }
        )  # fmt: skip
    return out


def _complete_words(words: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    """Words the aligner could not place (digits, symbols) get their neighbours' times."""
    out: list[dict[str, Any]] = []
    for index, word in enumerate(words):
        item = {"word": word["word"], "start": word.get("start"), "end": word.get("end")}
        if item["start"] is None:
            item["start"] = out[-1]["end"] if out else start
        if item["end"] is None:
            following = next((w.get("start") for w in words[index + 1 :] if w.get("start") is not None), end)
            item["end"] = max(item["start"], following)
        out.append(item)
    return out


def _diarize(
    pipeline: Any, samples: np.ndarray, params: TranscriptionForm, token: CancelToken
) -> tuple[Any, dict[str, list[float]] | None]:
    """Speaker turns (DataFrame) and one voice embedding per speaker, to match across windows."""
    token.check()
    return pipeline(samples, min_speakers=params.min_speakers, max_speakers=params.max_speakers, return_embeddings=True)


def _assign_speakers(diarization: Any, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import whisperx

    result = whisperx.assign_word_speakers(diarization, {"segments": segments})
    return result["segments"]


async def whisper_model(settings: Settings, session: Session) -> models.WhisperModel:
    """The Whisper model, loaded in ``session`` if it is not in memory."""
    return await session.model(
        models.whisper_key(settings), lambda: models.load_whisper(settings), setting=models.WHISPER_SETTING
    )


class Pipeline:
    """One request's run over the file: fills ``transcript`` and yields each window's segments."""

    def __init__(
        self, settings: Settings, session: Session, params: TranscriptionForm, task: Task,
        known: list[KnownSpeaker] | None = None,
    ) -> None:  # fmt: skip
        """``known``: the request's known speakers (``known_speakers.decode_references``)."""
        self.settings = settings
        self.session = session
        self.params = params
        self.task = task
        self._known = known or []
        self.transcript = Transcript(task=task, language=params.language or "en", temperature=params.temperature)
        self._labels = SpeakerLabels()
        self._logged_word_method: str | None = None

    def run(self, source: Path | BinaryIO) -> AsyncGenerator[list[dict[str, Any]]]:
        """Transcribe the file (a path, or a file open at its start), window by window; once it is
        all done, its duration counts as transcribed."""
        settings = self.settings
        return self._run(
            audio.windows(
                source, chunk_seconds=settings.chunk_seconds, overlap_seconds=settings.chunk_overlap_seconds,
                threshold_seconds=settings.chunk_threshold_seconds, max_seconds=settings.max_audio_seconds,
            ),
            whole_file=True,
        )  # fmt: skip

    def run_samples(self, samples: np.ndarray) -> AsyncGenerator[list[dict[str, Any]]]:
        """Transcribe 16 kHz samples in memory (a realtime turn) exactly as a file of them (a turn
        may be passed over several times while it is spoken: the session counts what it finishes)."""
        settings = self.settings
        return self._run(
            audio.sample_windows(
                samples, chunk_seconds=settings.chunk_seconds, overlap_seconds=settings.chunk_overlap_seconds,
                threshold_seconds=settings.chunk_threshold_seconds,
            )
        )  # fmt: skip

    async def _run(
        self, windows: Iterator[audio.Window], *, whole_file: bool = False
    ) -> AsyncGenerator[list[dict[str, Any]]]:
        settings, session = self.settings, self.session
        language = self.params.language
        if self.params.needs_diarization:
            self.transcript.diarization = []
        if self.params.logprobs:
            self.transcript.token_logprobs = []
        cut = 0
        try:
            while (window := await session.run(next, windows, None)) is not None:
                session.token.check()
                self.transcript.duration = window.end
                next_cut = chunking.cut_after(window, settings.chunk_overlap_seconds)
                segments = await self._window(window, cut, next_cut, language)
                self.transcript.segments.extend(segments)
                yield segments
                language = language or self.transcript.language
                cut = next_cut
        finally:
            windows.close()
        if whole_file:
            TRANSCRIBED.inc(self.transcript.duration)

    async def _window(
        self, window: audio.Window, cut: int, next_cut: int, language: str | None
    ) -> list[dict[str, Any]]:
        """Transcribe the window's audio between the two cuts (absolute samples)."""
        speech = window.samples[cut - window.offset : next_cut - window.offset]
        if self.params.chunking_strategy == "auto":
            speech = loudness.normalised(speech)
        span = (cut / audio.SAMPLE_RATE, next_cut / audio.SAMPLE_RATE)
        settings, session, params = self.settings, self.session, self.params
        whisper = await whisper_model(settings, session)
        segments, self.transcript.language = await session.run(
            _transcribe, whisper, speech, params, self.task, language, settings.batch_size, session.token
        )
        if self.transcript.token_logprobs is not None and segments:
            # Before alignment, which may split segments: these are the ones Whisper decoded.
            self.transcript.token_logprobs += await session.run(
                segment_logprobs, whisper, segments, speech, self.transcript.language, settings.batch_size,
                session.token,
            )  # fmt: skip
        if params.needs_alignment and segments:
            segments = await self._words(whisper, segments, speech)
        if params.needs_diarization:
            segments = await self._speakers(window, segments, span)
        return chunking.shift(segments, span[0])

    async def _words(
        self, whisper: models.WhisperModel, segments: list[dict[str, Any]], speech: np.ndarray
    ) -> list[dict[str, Any]]:
        """Word times: WhisperX alignment when asked for (advanced=true) or configured
        (WHISPERX_ALIGN_MODEL), else Whisper's own, which need no model beyond the loaded one."""
        settings, session, language = self.settings, self.session, self.transcript.language
        key = models.align_key(settings, language)
        if self.params.advanced or settings.whisperx_align_model:
            try:
                align = await session.model(key, lambda: models.load_align(settings, language),
                                            setting=models.ALIGN_SETTING)  # fmt: skip
            except APIError as exc:
                if self.params.advanced or exc.code != "model_unavailable":
                    raise  # advanced=true asks for WhisperX alignment explicitly
                self._word_method(f"Whisper cross-attention (alignment model '{key}' could not be loaded)")
            else:
                self._word_method(f"WhisperX alignment ({key})")
                return await session.run(_align, align, segments, speech, settings.resolved_device, session.token)
        else:
            self._word_method("Whisper cross-attention (no alignment model configured)")
        return await session.run(whisper_words, whisper, segments, speech, language, settings.batch_size, session.token)

    def _word_method(self, method: str) -> None:
        """Say once per request which method produced the word timestamps."""
        if self._logged_word_method is None:
            self._logged_word_method = method
            log.info("word timestamps: %s", method)

    async def _speakers(
        self, window: audio.Window, segments: list[dict[str, Any]], span: tuple[float, float]
    ) -> list[dict[str, Any]]:
        """Diarize the whole window (overlap included, to match speakers with the previous one),
        then label this window's segments with file-wide speaker names."""
        settings, session = self.settings, self.session
        diarizer = await session.model(
            models.diarization_key(settings), lambda: models.load_diarization(settings),
            setting=models.DIARIZATION_SETTING,
        )  # fmt: skip
        if self._known:  # embedded once, by the pipeline that diarizes
            self._labels.name_after(await session.run(known_speakers.voices, diarizer, self._known, session.token))
            self._known = []
        frame, voices = await session.run(_diarize, diarizer, window.samples, self.params, session.token)
        turns = [Turn(str(row.speaker), row.start + window.start, row.end + window.start) for row in frame.itertuples()]
        mapping = self._labels.relabel(turns, window.start, window.start + settings.chunk_overlap_seconds, voices)
        reported = self.transcript.diarization
        assert reported is not None
        for turn in turns:  # each window reports the turns within its own span
            lo, hi, speaker = (
                round(max(turn.start, span[0]), 3),
                round(min(turn.end, span[1]), 3),
                mapping[turn.speaker],
            )
            if hi <= lo:
                continue
            if reported and reported[-1].speaker == speaker and reported[-1].end >= lo:
                reported[-1] = Turn(speaker, reported[-1].start, hi)  # one turn split by a cut
            else:
                reported.append(Turn(speaker, lo, hi))
        if not segments:
            return segments
        # Segments are relative to the span's start; so must the speaker turns be.
        offset = window.start - span[0]
        frame = frame.assign(
            speaker=frame["speaker"].map(mapping), start=frame["start"] + offset, end=frame["end"] + offset
        )
        return await session.run(_assign_speakers, frame, segments)
