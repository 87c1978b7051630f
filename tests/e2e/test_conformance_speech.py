"""The quick start's speech side, checked against OpenAI's published schemas: the SSE events of
``stream_format=sse`` and every error body the speech route gives (the transcription side and
/v1/models: test_conformance_asr.py)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import av
import httpx
import pytest

from fixtures.conformance.schemas import validate
from fixtures.stack import LocalStack
from tests.e2e.test_conformance_asr import assert_error

SPEECH = {"model": "tts-1", "voice": "alloy", "input": "The quick brown fox jumps over the lazy dog."}


@pytest.mark.parametrize("response_format", ["pcm", "wav", "opus"])
def test_speech_sse_events(embedded_stack: LocalStack, response_format: str) -> None:
    body = {**SPEECH, "response_format": response_format, "stream_format": "sse"}
    response = httpx.post(f"{embedded_stack.url}/v1/audio/speech", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.split("\n\n")
    assert blocks[-1] == "" and all(block.startswith("data: ") for block in blocks[:-1])
    *deltas, done = [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]
    assert deltas
    for event in deltas:
        validate("SpeechAudioDeltaEvent", event)
    validate("SpeechAudioDoneEvent", done)
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    if response_format == "pcm":
        seconds = len(audio) / 2 / 24_000
    else:
        with av.open(io.BytesIO(audio)) as container:
            stream = container.streams.audio[0]
            seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
    assert seconds > 1.0


@pytest.mark.parametrize(
    ("change", "param"),
    [
        pytest.param({"model": "tts-2"}, "model", id="unknown-model"),
        pytest.param({"voice": None}, "voice", id="no-voice"),
        pytest.param({"input": ""}, "input", id="empty-input"),
        pytest.param({"input": "x" * 4097}, "input", id="long-input"),
        pytest.param({"response_format": "wma"}, "response_format", id="bad-format"),
        pytest.param({"speed": 5}, "speed", id="bad-speed"),
        pytest.param({"stream_format": "json"}, "stream_format", id="bad-stream-format"),
        pytest.param({"language": "tlh"}, "language", id="unsupported-language"),
    ],
)
def test_invalid_speech_is_400(embedded_stack: LocalStack, change: dict[str, Any], param: str) -> None:
    body = {key: value for key, value in {**SPEECH, **change}.items() if value is not None}
    response = httpx.post(f"{embedded_stack.url}/v1/audio/speech", json=body, timeout=60)
    assert assert_error(response, 400)["param"] == param


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        pytest.param(b"{not json", "application/json", 400, id="broken-json"),
        pytest.param(b"model=tts-1", "application/x-www-form-urlencoded", 415, id="form-body"),
        pytest.param(json.dumps({**SPEECH, "pad": "y" * 2_000_000}).encode(), "application/json", 413, id="huge"),
    ],
)
def test_bad_speech_bodies(embedded_stack: LocalStack, content: bytes, content_type: str, status: int) -> None:
    response = httpx.post(
        f"{embedded_stack.url}/v1/audio/speech", content=content, headers={"content-type": content_type}, timeout=30
    )
    assert_error(response, status)
