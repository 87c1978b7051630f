"""The OpenAI Python SDK against the whole local stack (tiny.en ASR, tiny XTTS checkpoint TTS).

Everything goes through the gateway the README points users at (``base_url=<gateway>/v1``), with the
SDK's own request building, response parsing and error classes. The speech format tests also run on
the quick start's Piper engine.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from common.api_types import OPENAI_VOICES, SPEECH_CONTENT_TYPES, SPEECH_FORMATS
from fixtures.conformance.schemas import validate
from fixtures.speech import SENTENCE, speech, speech_file
from fixtures.stack import LocalStack
from fixtures.tiny_xtts import SPEAKERS
from fixtures.wer import word_error_rate, words
from tests.e2e.checks import assert_audio

SRT_TIMING = re.compile(r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d")
VTT_TIMING = re.compile(r"\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d")
SHORT_TEXT = "Hello there, this is a test."


def transcribe(client: OpenAI, container: str = "wav", **kwargs: object):  # type: ignore[no-untyped-def]
    with speech_file(SENTENCE, container).open("rb") as file:
        return client.audio.transcriptions.create(model="whisper-1", file=file, **kwargs)  # type: ignore[call-overload]


def assert_sentence(text: str) -> None:
    """tiny.en transcribes the Piper voice word for word."""
    assert word_error_rate(SENTENCE, text) == 0, f"heard {text!r}, said {SENTENCE!r}"


def test_models_list_is_exactly_the_five_public_ids(client: OpenAI) -> None:
    models = client.models.list().data
    assert sorted(m.id for m in models) == sorted(["whisper-1", "turbo", "tts-1", "tts-1-hd", "coqui-tts"])
    assert all(m.object == "model" for m in models)
    assert client.models.retrieve("tts-1-hd").id == "tts-1-hd"


@pytest.mark.parametrize("container", ["wav", "mp3", "webm"])
def test_transcription_json_returns_the_spoken_words(client: OpenAI, container: str) -> None:
    assert_sentence(transcribe(client, container).text)


def test_transcription_text_is_a_plain_string(client: OpenAI) -> None:
    text = transcribe(client, response_format="text")
    assert isinstance(text, str) and not text.lstrip().startswith(("{", '"'))
    assert_sentence(text)


def test_transcription_srt(client: OpenAI) -> None:
    srt = transcribe(client, response_format="srt")
    cues = srt.split("\n\n")
    assert cues[-1] == "" and len(cues) >= 2, f"SRT must end with a blank line: {srt!r}"
    texts = []
    for number, cue in enumerate(cues[:-1], start=1):
        index, timing, *text = cue.split("\n")
        assert index == str(number) and SRT_TIMING.fullmatch(timing), f"bad cue {cue!r}"
        texts.extend(text)
    assert_sentence(" ".join(texts))


def test_transcription_vtt(client: OpenAI) -> None:
    vtt = transcribe(client, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n"), vtt
    texts = []
    for cue in filter(None, vtt.removeprefix("WEBVTT\n\n").split("\n\n")):
        timing, *text = cue.strip("\n").split("\n")
        assert VTT_TIMING.fullmatch(timing), f"bad cue {cue!r}"
        texts.extend(text)
    assert_sentence(" ".join(texts))


def test_transcription_verbose_json(client: OpenAI) -> None:
    result = transcribe(client, response_format="verbose_json")
    samples, rate = speech(SENTENCE)
    assert result.language == "english"
    assert result.duration == pytest.approx(len(samples) / rate, abs=0.1)
    assert_sentence(result.text)
    assert result.segments, "verbose_json without segments"
    for segment in result.segments:
        assert 0 <= segment.start <= segment.end <= result.duration + 0.1
        assert segment.tokens and segment.temperature == 0
    assert result.words is None  # only when word granularity is asked for


def test_word_timestamps(client: OpenAI) -> None:
    result = transcribe(client, response_format="verbose_json", timestamp_granularities=["word"])
    assert [w.word for w in result.words or []] and words(" ".join(w.word for w in result.words)) == words(SENTENCE)
    assert all(0 <= w.start <= w.end <= result.duration + 0.1 for w in result.words)


def test_advanced_fields_go_through_extra_body(client: OpenAI) -> None:
    result = transcribe(client, extra_body={"advanced": True, "diarize": False, "language": "en"}).model_dump()
    assert_sentence(result["text"])
    assert result["language"] == "en"
    segment = result["segments"][0]
    assert {"id", "start", "end", "text", "words"} <= segment.keys()
    assert "speaker" not in segment  # not diarized
    aligned = [w["word"] for s in result["segments"] for w in s["words"]]
    assert words(" ".join(aligned)) == words(SENTENCE)


def test_streamed_transcription_events(client: OpenAI) -> None:
    with speech_file(SENTENCE, "wav").open("rb") as file:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=file, stream=True))
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1) and len(events) >= 2
    assert events[-1].type == "transcript.text.done"
    assert_sentence(events[-1].text)
    assert words("".join(e.delta for e in events[:-1])) == words(events[-1].text)


def test_newer_transcription_options_through_the_sdk(client: OpenAI) -> None:
    """The SDK's own encoding of OpenAI's newer fields (include[], keywords[], languages[],
    chunking_strategy[...]) through the gateway to the ASR service."""
    result = transcribe(
        client, include=["logprobs"], keywords=["fox", "dog"], languages=["en"],
        chunking_strategy={"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500},
    )  # fmt: skip
    assert_sentence(result.text)
    assert "".join(t.token for t in result.logprobs) == result.text
    assert [language.code for language in result.languages] == ["en"]


@pytest.mark.parametrize("response_format", ["json", "text"])
def test_translation_into_english(client: OpenAI, response_format: str) -> None:
    with speech_file(SENTENCE, "mp3").open("rb") as file:
        result = client.audio.translations.create(model="whisper-1", file=file, response_format=response_format)  # type: ignore[call-overload]
    assert_sentence(result if isinstance(result, str) else result.text)


def test_voices_name_the_checkpoints_speakers_and_the_openai_mapping(coqui_stack: LocalStack) -> None:
    voices = httpx.get(f"{coqui_stack.url}/v1/audio/voices", timeout=60).json()
    assert set(voices["builtin"]) == set(SPEAKERS)
    assert set(voices["openai"]) == set(OPENAI_VOICES)
    assert set(voices["openai"].values()) == set(SPEAKERS)  # spread over both built-in speakers


@pytest.fixture(params=["coqui_stack", "embedded_stack"], ids=["coqui", "piper"])
def speech_client(request: pytest.FixtureRequest) -> OpenAI:
    """Issue 9: every format and stream=true work the same with both TTS engines."""
    stack: LocalStack = request.getfixturevalue(request.param)
    return stack.openai_client()


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_speech_create_gives_decodable_audio(speech_client: OpenAI, response_format: str) -> None:
    response = speech_client.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input=SHORT_TEXT,
        response_format=response_format,  # type: ignore[arg-type]
    )
    assert response.response.headers["content-type"].startswith(SPEECH_CONTENT_TYPES[response_format])
    assert_audio(response.content, response_format)


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_speech_streamed_to_file(speech_client: OpenAI, response_format: str, tmp_path: Path) -> None:
    path = tmp_path / f"speech.{response_format}"
    with speech_client.audio.speech.with_streaming_response.create(
        model="coqui-tts",
        voice="Viktor Eka",  # the checkpoint's built-in speaker by name; Piper falls back to its own
        input=SHORT_TEXT,
        response_format=response_format,  # type: ignore[arg-type]
        speed=1.5,
        instructions="Speak slowly and warmly.",  # accepted for compatibility
        extra_body={"stream": True, "language": "en"},
    ) as response:
        assert response.headers.get("transfer-encoding") == "chunked"  # sent while it is synthesized
        response.stream_to_file(path)
    assert_audio(path.read_bytes(), response_format)


def test_sdk_error_types_carry_our_messages(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.models.retrieve("gpt-4o")
    assert "gpt-4o" in not_found.value.body["message"]  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as bad_model, speech_file(SENTENCE, "wav").open("rb") as file:
        client.audio.transcriptions.create(model="whisper-2", file=file)
    assert bad_model.value.param == "model"
    assert "whisper-1" in bad_model.value.body["message"] and "turbo" in bad_model.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "param", "fragment"),
    [
        ({"model": "tts-2"}, "model", "tts-1"),
        ({"response_format": "wma"}, "response_format", "mp3"),
        ({"speed": 10.0}, "speed", "4"),
        ({"input": ""}, "input", ""),
        ({"stream_format": "json"}, "stream_format", "'audio' or 'sse'"),
    ],
)
def test_speech_bad_input_raises_bad_request(client: OpenAI, kwargs: dict, param: str, fragment: str) -> None:
    request = {"model": "tts-1", "voice": "alloy", "input": SHORT_TEXT, **kwargs}
    with pytest.raises(openai.BadRequestError) as error:
        client.audio.speech.create(**request)
    assert error.value.status_code == 400
    assert error.value.type == "invalid_request_error"
    assert error.value.param == param
    assert fragment in error.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "param", "fragment"),
    [
        ({"language": "xx"}, "language", "Unknown language 'xx'"),
        ({"response_format": "docx"}, "response_format", "got 'docx'"),
        ({"extra_body": {"advanced": "maybe"}}, "advanced", "Invalid boolean for 'advanced'"),
        ({"extra_body": {"advanced": True, "min_speakers": 3, "max_speakers": 2}}, "min_speakers", "max_speakers"),
    ],
)
def test_transcription_bad_input_raises_bad_request(client: OpenAI, kwargs: dict, param: str, fragment: str) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        transcribe(client, **kwargs)
    assert error.value.param == param
    assert fragment in error.value.body["message"]  # type: ignore[index]


def test_undecodable_upload_is_a_bad_request(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"this is not audio at all"))
    assert error.value.body["message"]  # type: ignore[index]


def test_diarization_without_token_is_503_saying_so(client: OpenAI) -> None:
    """No HF_TOKEN in this stack: diarization must say what is missing, not fail obscurely."""
    with pytest.raises(openai.InternalServerError) as error:
        transcribe(client, extra_body={"advanced": True})
    assert error.value.status_code == 503
    assert "HF_TOKEN" in error.value.body["message"]  # type: ignore[index]


def test_speech_sse_events_through_the_sdk(client: OpenAI) -> None:
    """stream_format="sse" as the SDK sends it: OpenAI's speech.audio.delta events with base64 pcm,
    then speech.audio.done with usage, validated against OpenAI's schemas."""
    events = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SHORT_TEXT, response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    *deltas, done = events
    for event in deltas:
        validate("SpeechAudioDeltaEvent", event)
    validate("SpeechAudioDoneEvent", done)
    pcm = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert len(pcm) / 2 / 24_000 > 0.05 and len(pcm) % 2 == 0  # the tiny XTTS speaks briefly
