"""The quick start's transcription side, checked against OpenAI's published schemas.

Every JSON answer of the transcription and translation routes and of /v1/models, every SSE event
of a streamed transcription and every error body the transcription routes give is validated with
``jsonschema`` against the schema OpenAI's spec names for it (fixtures/conformance). The stack is
the quick start (README command 1): tiny.en, no alignment model, no HF_TOKEN.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fixtures.conformance.schemas import validate
from fixtures.speech import SENTENCE, speech_file
from fixtures.stack import LocalStack

WORDS = {"timestamp_granularities[]": ["word", "segment"]}


def post(
    stack: LocalStack, route: str, fields: dict[str, Any], file: tuple[str, bytes] | None = None
) -> httpx.Response:
    """A multipart request as the OpenAI SDKs send it; the spoken SENTENCE unless ``file`` is given."""
    if file is None:
        path = speech_file(SENTENCE, "wav")
        file = (path.name, path.read_bytes())
    return httpx.post(f"{stack.url}/v1/audio/{route}", data=fields, files={"file": file}, timeout=120)


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    validate("ErrorResponse", response.json())
    return response.json()["error"]


@pytest.mark.parametrize(
    ("fields", "schema"),
    [
        ({}, "CreateTranscriptionResponseJson"),
        ({"response_format": "json"}, "CreateTranscriptionResponseJson"),
        ({"response_format": "verbose_json"}, "CreateTranscriptionResponseVerboseJson"),
        ({"response_format": "verbose_json", **WORDS}, "CreateTranscriptionResponseVerboseJson"),
    ],
    ids=["default", "json", "verbose_json", "verbose_json-words"],
)
def test_transcription_json_formats(embedded_stack: LocalStack, fields: dict[str, Any], schema: str) -> None:
    response = post(embedded_stack, "transcriptions", {"model": "whisper-1", **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    validate(schema, body)
    validate("TranscriptTextUsageDuration", body["usage"])  # the variant OpenAI uses for Whisper
    assert body["usage"]["seconds"] == pytest.approx(3.0, abs=1.0)
    if "timestamp_granularities[]" in fields:  # word timestamps without any alignment model
        assert body["words"] and " ".join(w["word"] for w in body["words"]) == body["text"]


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [("json", "CreateTranslationResponseJson"), ("verbose_json", "CreateTranslationResponseVerboseJson")],
)
def test_translation_json_formats(embedded_stack: LocalStack, response_format: str, schema: str) -> None:
    response = post(embedded_stack, "translations", {"model": "whisper-1", "response_format": response_format})
    assert response.status_code == 200, response.text
    validate(schema, response.json())
    assert response.json()["text"]


def test_streamed_transcription_events(embedded_stack: LocalStack) -> None:
    response = post(embedded_stack, "transcriptions", {"model": "whisper-1", "stream": "true"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.split("\n\n")
    assert blocks[-1] == "" and all(block.startswith("data: ") for block in blocks[:-1])
    events = [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]
    assert len(events) >= 2
    for event in events:
        validate("CreateTranscriptionResponseStreamEvent", event)
    for event in events[:-1]:
        validate("TranscriptTextDeltaEvent", event)
    validate("TranscriptTextDoneEvent", events[-1])


@pytest.mark.parametrize(
    ("fields", "schema"),
    [
        ({"include[]": "logprobs"}, "CreateTranscriptionResponseJson"),
        ({"languages[]": ["en", "de"], "keywords[]": ["fox"]}, "CreateTranscriptionResponseJson"),
        (
            {"response_format": "verbose_json", "chunking_strategy[type]": "server_vad",
             "chunking_strategy[silence_duration_ms]": "1000"},
            "CreateTranscriptionResponseVerboseJson",
        ),
        ({"response_format": "verbose_json", "chunking_strategy": "auto"}, "CreateTranscriptionResponseVerboseJson"),
    ],
    ids=["logprobs", "languages-keywords", "server_vad", "auto"],
)  # fmt: skip
def test_newer_transcription_options(embedded_stack: LocalStack, fields: dict[str, Any], schema: str) -> None:
    """OpenAI's newer form fields pass through the gateway and shape the answer as its schemas say."""
    response = post(embedded_stack, "transcriptions", {"model": "whisper-1", **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    validate(schema, body)
    if "include[]" in fields:
        assert "".join(t["token"] for t in body["logprobs"]) == body["text"]
    if "languages[]" in fields:
        assert body["languages"] == [{"code": "en"}]


def test_streamed_logprobs(embedded_stack: LocalStack) -> None:
    fields = {"model": "whisper-1", "stream": "true", "include[]": "logprobs"}
    response = post(embedded_stack, "transcriptions", fields)
    events = [json.loads(block.removeprefix("data: ")) for block in response.text.split("\n\n") if block]
    for event in events:
        validate("CreateTranscriptionResponseStreamEvent", event)
        text = event.get("delta", event.get("text"))
        assert "".join(t["token"] for t in event["logprobs"]) == text


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "verbose_json", "include[]": "logprobs"}, "include[]"),
        ({"chunking_strategy": '{"type": "server_vad", "threshold": 2}'}, "chunking_strategy"),
        ({"keywords[]": [f"Zorblax{i} Quorvath{i}" for i in range(40)]}, "keywords[]"),  # the ASR service's budget
        ({"languages[]": ["de", "fr"]}, "languages[]"),  # tiny.en is English-only: the ASR service says so
        (
            {"known_speaker_names[]": "alice", "known_speaker_references[]": "data:audio/wav;base64,AAAA"},
            "known_speaker_names[]",
        ),
    ],
    ids=["logprobs-verbose", "vad-threshold", "keyword-budget", "english-only", "known-speakers-not-diarized"],
)
def test_newer_options_refused_by_name(embedded_stack: LocalStack, fields: dict[str, Any], param: str) -> None:
    error = assert_error(post(embedded_stack, "transcriptions", {"model": "whisper-1", **fields}), 400)
    assert error["param"] == param, error


def test_models_list_and_each_model(embedded_stack: LocalStack) -> None:
    listing = httpx.get(f"{embedded_stack.url}/v1/models", timeout=10)
    assert listing.status_code == 200
    validate("ListModelsResponse", listing.json())
    for model in listing.json()["data"]:
        response = httpx.get(f"{embedded_stack.url}/v1/models/{model['id']}", timeout=10)
        assert response.status_code == 200
        validate("Model", response.json())
    assert_error(httpx.get(f"{embedded_stack.url}/v1/models/gpt-4o", timeout=10), 404)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="no-model"),
        pytest.param({"model": "gpt-4o-transcribe"}, id="unknown-model"),
        pytest.param({"model": "whisper-1", "response_format": "mp3"}, id="bad-format"),
        pytest.param({"model": "whisper-1", "language": "klingon"}, id="bad-language"),
        pytest.param({"model": "whisper-1", "temperature": "2"}, id="bad-temperature"),
        pytest.param({"model": "whisper-1", "timestamp_granularities[]": "sentence"}, id="bad-granularity"),
        pytest.param({"model": "whisper-1", "advanced": "perhaps"}, id="bad-boolean"),
        pytest.param(
            {"model": "whisper-1", "advanced": "true", "min_speakers": "3", "max_speakers": "2"}, id="min-over-max"
        ),
    ],
)
def test_invalid_fields_are_400(embedded_stack: LocalStack, fields: dict[str, Any]) -> None:
    error = assert_error(post(embedded_stack, "transcriptions", fields), 400)
    assert error["param"]


@pytest.mark.parametrize(
    ("route", "fields", "file"),
    [
        ("transcriptions", {"model": "whisper-1"}, ("notes.wav", b"this is not audio at all")),
        ("transcriptions", {"model": "whisper-1"}, ("empty.wav", b"")),
        ("translations", {"model": "whisper-1", "response_format": "diarized_json"}, None),
    ],
    ids=["undecodable", "empty", "translation-diarized_json"],
)
def test_bad_uploads_are_400(
    embedded_stack: LocalStack, route: str, fields: dict[str, Any], file: tuple[str, bytes] | None
) -> None:
    assert_error(post(embedded_stack, route, fields, file), 400)


def test_missing_file_is_400(embedded_stack: LocalStack) -> None:
    response = httpx.post(
        f"{embedded_stack.url}/v1/audio/transcriptions", files={"model": (None, "whisper-1")}, timeout=30
    )
    assert assert_error(response, 400)["param"] == "file"


def test_unknown_route_and_wrong_method(embedded_stack: LocalStack) -> None:
    assert_error(httpx.post(f"{embedded_stack.url}/v1/audio/transcription", timeout=10), 404)
    assert_error(httpx.get(f"{embedded_stack.url}/v1/audio/transcriptions", timeout=10), 405)


def test_form_fields_over_the_limit_are_413(embedded_stack: LocalStack) -> None:
    response = post(embedded_stack, "transcriptions", {"model": "whisper-1", "prompt": "x" * (2 * 1024 * 1024)})
    assert_error(response, 413)


def test_json_body_is_415(embedded_stack: LocalStack) -> None:
    response = httpx.post(f"{embedded_stack.url}/v1/audio/transcriptions", json={"model": "whisper-1"}, timeout=10)
    assert_error(response, 415)


@pytest.mark.parametrize(
    "fields", [{"advanced": "true"}, {"response_format": "diarized_json"}], ids=["advanced", "diarized_json"]
)
def test_diarization_without_hf_token_is_503(embedded_stack: LocalStack, fields: dict[str, Any]) -> None:
    error = assert_error(post(embedded_stack, "transcriptions", {"model": "whisper-1", **fields}), 503)
    assert "HF_TOKEN" in error["message"]


def test_diarization_without_hf_token_is_not_retried_by_the_sdks(embedded_stack: LocalStack) -> None:
    response = post(embedded_stack, "transcriptions", {"model": "whisper-1", "response_format": "diarized_json"})
    assert response.status_code == 503
    assert response.headers.get("x-should-retry") == "false"
