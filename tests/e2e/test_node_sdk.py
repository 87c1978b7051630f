"""The official OpenAI Node SDK (npm ``openai``, installed by README command 2 into tests/node)
against the quick start: transcriptions from a file stream and from ``toFile`` in every format,
``stream: true``, translations, speech in all six formats, and errors, each answer validated
against OpenAI's published schemas."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from common.api_types import SPEECH_CONTENT_TYPES, SPEECH_FORMATS
from fixtures.conformance.schemas import validate
from fixtures.servers import REPO
from fixtures.speech import SENTENCE, speech_file
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate

NODE_DIR = REPO / "tests" / "node"
MODEL_IDS = ["whisper-1", "turbo", "tts-1", "tts-1-hd", "coqui-tts"]


@pytest.fixture(scope="module")
def results(embedded_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run README command 2 (scripts/test.sh): it installs it"
    out = tmp_path_factory.mktemp("node-sdk")
    audio = speech_file(SENTENCE, "mp3")
    done = subprocess.run(
        ["node", str(NODE_DIR / "sdk_check.mjs"), f"{embedded_stack.url}/v1", str(audio), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _value(results: dict[str, Any], name: str) -> Any:
    result = results[name]
    assert result["ok"], result
    return result["value"]


def test_models(results: dict[str, Any]) -> None:
    assert _value(results, "models") == MODEL_IDS


@pytest.mark.parametrize("source", ["transcription-json", "transcription-toFile"])
def test_transcription_json(results: dict[str, Any], source: str) -> None:
    body = _value(results, source)
    validate("CreateTranscriptionResponseJson", body)
    assert word_error_rate(SENTENCE, body["text"]) <= 0.2


def test_transcription_text_formats_are_strings(results: dict[str, Any]) -> None:
    assert word_error_rate(SENTENCE, _value(results, "transcription-text")) <= 0.2
    assert _value(results, "transcription-srt").startswith("1\n00:00:00,")
    assert _value(results, "transcription-vtt").startswith("WEBVTT\n\n00:00:00.")


def test_transcription_verbose_json_and_words(results: dict[str, Any]) -> None:
    verbose = _value(results, "transcription-verbose_json")
    validate("CreateTranscriptionResponseVerboseJson", verbose)
    assert verbose["language"] == "english" and "words" not in verbose
    words = _value(results, "transcription-words")
    validate("CreateTranscriptionResponseVerboseJson", words)
    assert word_error_rate(SENTENCE, " ".join(word["word"] for word in words["words"])) <= 0.2


def test_transcription_stream_events(results: dict[str, Any]) -> None:
    *deltas, done = _value(results, "transcription-stream")
    assert deltas and all(event["type"] == "transcript.text.delta" for event in deltas)
    for event in deltas:
        validate("TranscriptTextDeltaEvent", event)
    validate("TranscriptTextDoneEvent", done)
    assert "".join(event["delta"] for event in deltas) == done["text"]


def test_translation(results: dict[str, Any]) -> None:
    body = _value(results, "translation")
    validate("CreateTranslationResponseJson", body)
    assert word_error_rate(SENTENCE, body["text"]) <= 0.2


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_speech(results: dict[str, Any], response_format: str) -> None:
    value = _value(results, f"speech-{response_format}")
    assert value["contentType"] == SPEECH_CONTENT_TYPES[response_format]
    data = Path(value["file"]).read_bytes()
    if response_format == "pcm":
        seconds = len(data) / 2 / 24_000
    else:
        with av.open(value["file"]) as container:
            stream = container.streams.audio[0]
            seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
    assert seconds > 1.0


@pytest.mark.parametrize(
    ("name", "status", "cls", "param"),
    [
        ("error-bad-speed", 400, "BadRequestError", "speed"),
        ("error-unknown-model", 404, "NotFoundError", "model"),
        ("error-bad-transcription-model", 400, "BadRequestError", "model"),
        ("error-permanent", 503, "InternalServerError", None),
    ],
)
def test_errors(results: dict[str, Any], name: str, status: int, cls: str, param: str | None) -> None:
    result = results[name]
    assert not result["ok"] and (result["status"], result["class"]) == (status, cls), result
    validate("Error", result["error"])  # the SDK hands over the envelope's error object
    assert result["error"]["param"] == param


def test_permanent_refusal_is_not_retried(results: dict[str, Any]) -> None:
    assert results["error-permanent"]["calls"] == 1  # maxRetries 2, but x-should-retry: false
