"""Response bodies for every response_format (docs/api.md) and the server-sent events of stream=true."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from asr.transcribe import Transcript
from common.api_types import TranscriptionParams
from common.languages import WHISPER_LANGUAGES
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


def _words(transcript: Transcript, *, speakers: bool) -> list[dict[str, Any]]:
    out = []
    for segment in transcript.segments:
        for word in segment.get("words", ()):
            item = {"word": word["word"], "start": word["start"], "end": word["end"]}
            if speakers and "speaker" in word:
                item["speaker"] = word["speaker"]
            out.append(item)
    return out


def usage(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's duration usage (``TranscriptTextUsageDuration``): seconds of input audio.
    OpenAI's translation responses carry none."""
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


def _with_usage(transcript: Transcript, body: dict[str, Any]) -> dict[str, Any]:
    """json and verbose_json: usage for transcriptions only, as OpenAI's schemas have it."""
    return {**body, "usage": usage(transcript)} if transcript.task == "transcribe" else body


def advanced_json(transcript: Transcript) -> dict[str, Any]:
    """advanced=true: words per segment, plus speakers when diarized."""
    diarized = transcript.diarization is not None
    segments = []
    for index, segment in enumerate(transcript.segments):
        item: dict[str, Any] = {"id": index, "start": segment["start"], "end": segment["end"], "text": segment["text"]}
        if diarized:
            item["speaker"] = segment.get("speaker")
        item["words"] = [
            {
                "word": w["word"],
                "start": w["start"],
                "end": w["end"],
                **({"speaker": w.get("speaker")} if diarized else {}),
            }
            for w in segment.get("words", ())
        ]
        segments.append(item)
    body: dict[str, Any] = {"text": transcript.text, "language": transcript.language, "segments": segments}
    if diarized:
        body["diarization"] = [
            {"speaker": t.speaker, "start": t.start, "end": t.end} for t in transcript.diarization or ()
        ]
        body["speakers"] = transcript.speakers
    body["usage"] = usage(transcript)  # advanced=true is a transcription-only extension
    return body


def verbose_json(transcript: Transcript, params: TranscriptionParams) -> dict[str, Any]:
    """OpenAI's verbose_json. WhisperX does not report per-segment fallback temperatures or
    no-speech probabilities: the request's temperature and 0.0 stand in for them."""
    segments = []
    for index, segment in enumerate(transcript.segments):
        item: dict[str, Any] = {
            "id": index,
            "seek": round(segment["start"] * 100),  # in 10 ms mel frames, like Whisper
            "start": segment["start"],
            "end": segment["end"],
            "text": segment["text"],
            "tokens": segment.get("tokens", []),
            "temperature": transcript.temperature,
            "avg_logprob": segment.get("avg_logprob", 0.0),
            "compression_ratio": segment.get("compression_ratio", 0.0),
            "no_speech_prob": 0.0,
        }
        if "speaker" in segment:
            item["speaker"] = segment["speaker"]
        segments.append(item)
    body: dict[str, Any] = {
        "task": transcript.task,
        "language": WHISPER_LANGUAGES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": segments,
    }
    if params.word_timestamps or params.advanced:
        body["words"] = _words(transcript, speakers=False)
    return _with_usage(transcript, body)


def diarized_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "task": transcript.task,
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "speaker": s.get("speaker") or "unknown",
            }
            for index, s in enumerate(transcript.segments)
        ],
        "usage": usage(transcript),
    }


def render(transcript: Transcript, params: TranscriptionParams) -> Response:
    """The response for ``params.response_format``; text formats are text/plain, never JSON-quoted."""
    fmt = params.response_format
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(srt(transcript))
    if fmt == "vtt":
        return PlainTextResponse(vtt(transcript))
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(transcript, params))
    if fmt == "diarized_json":
        return JSONResponse(diarized_json(transcript))
    if params.advanced:
        return JSONResponse(advanced_json(transcript))
    return JSONResponse(_with_usage(transcript, {"text": transcript.text}))


def delta_event(text: str) -> bytes:
    return sse({"type": "transcript.text.delta", "delta": text})


def done_event(transcript: Transcript) -> bytes:
    # No usage: OpenAI's done event only has token usage, which does not apply to Whisper.
    return sse({"type": "transcript.text.done", "text": transcript.text})
