"""Response bodies for every response_format (docs/api.md) and the server-sent events of stream=true."""

from __future__ import annotations

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from asr.logprobs import rendered
from asr.transcribe import Transcript
from common.api_types import TranscriptionForm
from common.languages import WHISPER_LANGUAGES
from common.resources import (
    AdvancedSegment,
    DiarizedSegment,
    DurationUsage,
    Resource,
    SpeakerTurn,
    TokenLogprob,
    TranscriptionAdvancedJson,
    TranscriptionDiarizedJson,
    TranscriptionJson,
    TranscriptionLanguage,
    TranscriptionSegment,
    TranscriptionVerboseJson,
    TranscriptionWord,
    TranscriptTextDelta,
    TranscriptTextDone,
)
from common.sse import sse


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(transcript: Transcript) -> str:
    blocks = [
        f"{index}\n{_timestamp(s['start'], ',')} --> {_timestamp(s['end'], ',')}\n{s['text']}\n\n"
        for index, s in enumerate(transcript.segments, start=1)
    ]
    return "".join(blocks)


def vtt(transcript: Transcript) -> str:
    blocks = [
        f"{_timestamp(s['start'], '.')} --> {_timestamp(s['end'], '.')}\n{s['text']}\n\n" for s in transcript.segments
    ]
    return "WEBVTT\n\n" + "".join(blocks)


def usage(transcript: Transcript) -> DurationUsage:
    """OpenAI's duration usage: seconds of input audio."""
    return DurationUsage(seconds=round(transcript.duration, 3))


def _usage(transcript: Transcript) -> DurationUsage | None:
    """json and verbose_json: usage for transcriptions only, as OpenAI's schemas have it."""
    return usage(transcript) if transcript.task == "transcribe" else None


def logprobs(transcript: Transcript) -> list[TokenLogprob] | None:
    """With include[]=logprobs: the transcript's tokens, joining to its text."""
    return rendered(transcript.token_logprobs) if transcript.token_logprobs is not None else None


def languages(transcript: Transcript, params: TranscriptionForm) -> list[TranscriptionLanguage] | None:
    """With languages[]: the one detected among them (or the one given as ``language``)."""
    return [TranscriptionLanguage(code=transcript.language)] if params.languages else None


def _words(transcript: Transcript) -> list[TranscriptionWord]:
    return [
        TranscriptionWord(word=w["word"], start=w["start"], end=w["end"])
        for segment in transcript.segments
        for w in segment.get("words", ())
    ]


def advanced_json(transcript: Transcript) -> TranscriptionAdvancedJson:
    """advanced=true: words per segment, plus speakers when diarized."""
    diarized = transcript.diarization is not None
    segments = [
        AdvancedSegment(
            id=index,
            start=segment["start"],
            end=segment["end"],
            text=segment["text"],
            speaker=segment.get("speaker") if diarized else None,
            words=[
                TranscriptionWord(
                    word=w["word"], start=w["start"], end=w["end"], speaker=w.get("speaker") if diarized else None
                )
                for w in segment.get("words", ())
            ],
        )
        for index, segment in enumerate(transcript.segments)
    ]
    return TranscriptionAdvancedJson(
        text=transcript.text,
        language=transcript.language,
        segments=segments,
        diarization=[SpeakerTurn(speaker=t.speaker, start=t.start, end=t.end) for t in transcript.diarization]
        if diarized and transcript.diarization is not None
        else None,
        speakers=transcript.speakers if diarized else None,
        logprobs=logprobs(transcript),
        usage=usage(transcript),  # advanced=true is a transcription-only extension
    )


def verbose_json(transcript: Transcript, params: TranscriptionForm) -> TranscriptionVerboseJson:
    """OpenAI's verbose_json. WhisperX does not report per-segment fallback temperatures or
    no-speech probabilities: the request's temperature and 0.0 stand in for them."""
    segments = [
        TranscriptionSegment(
            id=index,
            seek=round(segment["start"] * 100),  # in 10 ms mel frames, like Whisper
            start=segment["start"],
            end=segment["end"],
            text=segment["text"],
            tokens=segment.get("tokens", []),
            temperature=transcript.temperature,
            avg_logprob=segment.get("avg_logprob", 0.0),
            compression_ratio=segment.get("compression_ratio", 0.0),
            no_speech_prob=0.0,
            speaker=segment.get("speaker"),
        )
        for index, segment in enumerate(transcript.segments)
    ]
    return TranscriptionVerboseJson(
        task=transcript.task,
        language=WHISPER_LANGUAGES.get(transcript.language, transcript.language),
        duration=round(transcript.duration, 3),
        text=transcript.text,
        segments=segments,
        words=_words(transcript) if params.word_timestamps or params.advanced else None,
        languages=languages(transcript, params),
        usage=_usage(transcript),
    )


def diarized_json(transcript: Transcript) -> TranscriptionDiarizedJson:
    return TranscriptionDiarizedJson(
        duration=round(transcript.duration, 3),
        text=transcript.text,
        segments=[
            DiarizedSegment(
                id=f"seg_{index}", start=s["start"], end=s["end"], text=s["text"], speaker=s.get("speaker") or "unknown"
            )
            for index, s in enumerate(transcript.segments)
        ],
        usage=usage(transcript),
    )


def render(transcript: Transcript, params: TranscriptionForm) -> Response:
    """The response for ``params.response_format``; text formats are text/plain, never JSON-quoted."""
    fmt = params.response_format
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(srt(transcript))
    if fmt == "vtt":
        return PlainTextResponse(vtt(transcript))
    body: Resource
    if fmt == "verbose_json":
        body = verbose_json(transcript, params)
    elif fmt == "diarized_json":
        body = diarized_json(transcript)
    elif params.advanced:
        body = advanced_json(transcript)
    else:
        body = TranscriptionJson(
            text=transcript.text,
            logprobs=logprobs(transcript),
            languages=languages(transcript, params),
            usage=_usage(transcript),
        )
    return JSONResponse(body.dump())


def delta_event(text: str, tokens: list[TokenLogprob] | None = None) -> bytes:
    return sse(TranscriptTextDelta(delta=text, logprobs=tokens).dump())


def done_event(transcript: Transcript) -> bytes:
    # No usage: OpenAI's done event only has token usage, which does not apply to Whisper.
    return sse(TranscriptTextDone(text=transcript.text, logprobs=logprobs(transcript)).dump())
