"""The model catalog, and the official OpenAI Python SDK against the gateway."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import psutil
import pytest

from fixtures.servers import Server, run_service
from fixtures.waiting import wait_until
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import assert_error

MODEL_IDS = ["whisper-1", "turbo", "tts-1", "tts-1-hd", "coqui-tts"]


def test_model_list(gateway: Server) -> None:
    body = httpx.get(f"{gateway.url}/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == MODEL_IDS
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int) and model["owned_by"]


def test_model_list_tells_what_serves_each_id(gateway: Server, orphan_gateway: Server) -> None:
    """owned_by/description come from the backends' /healthz; before any answer, the engine defaults."""

    def discovered() -> list[dict] | None:  # once the gateway has heard from the backend
        models = httpx.get(f"{gateway.url}/v1/models").json()["data"]
        return models if all(m["owned_by"] == "fake" for m in models) else None

    models = wait_until(discovered, 10)
    assert {(m["owned_by"], m["description"]) for m in models} == {("fake", "Fake test backend")}
    unreached = {m["id"]: m for m in httpx.get(f"{orphan_gateway.url}/v1/models").json()["data"]}
    assert unreached["whisper-1"]["owned_by"] == "whisperx" and unreached["tts-1"]["owned_by"] == "coqui"
    assert unreached["whisper-1"]["description"] is None


def test_model_retrieve_and_unknown(gateway: Server) -> None:
    assert httpx.get(f"{gateway.url}/v1/models/tts-1-hd").json()["id"] == "tts-1-hd"
    error = assert_error(httpx.get(f"{gateway.url}/v1/models/gpt-4"), 404, "model", code="model_not_found")
    assert "gpt-4" in error["message"]


def test_unknown_route_and_method_use_the_envelope(gateway: Server) -> None:
    assert_error(httpx.get(f"{gateway.url}/v1/nothing"), 404, None)
    assert_error(httpx.get(f"{gateway.url}/v1/audio/speech"), 405, None)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/audio/speech", {"POST"}),
        ("PUT", "/v1/audio/voices", {"GET", "POST"}),
        ("PUT", "/v1/audio/voice_consents", {"GET", "POST"}),
        ("PUT", "/v1/audio/voice_consents/cons_x", {"GET", "POST", "DELETE"}),
        ("PATCH", "/v1/audio/voices/voice_x", {"DELETE"}),
    ],
)
def test_a_405_allows_every_method_of_the_path(gateway: Server, method: str, path: str, allowed: set[str]) -> None:
    """Paths whose methods are separate routes (list and create, get, rename and delete) name them all."""
    response = httpx.request(method, gateway.url + path)
    assert_error(response, 405, None, code="method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == allowed


@pytest.fixture
def client(gateway: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def test_sdk_models_list(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == MODEL_IDS
    assert client.models.retrieve("whisper-1").owned_by == "fake"


def test_sdk_transcription(client: openai.OpenAI, backend: FakeControl, tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(b"RIFF" + bytes(50_000))
    with audio.open("rb") as file:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=file, language="en", extra_body={"advanced": "true"}
        )
    assert result.text == "hello world"
    received = backend.requests()[0]
    assert received["path"] == "/v1/audio/transcriptions"
    assert received["size"] > 50_000

    backend.mode("text")
    with audio.open("rb") as file:
        text = client.audio.transcriptions.create(model="turbo", file=file, response_format="text")
    assert text.strip() == "hello world"


def test_sdk_streaming_speech(client: openai.OpenAI, backend: FakeControl, tmp_path: Path) -> None:
    backend.mode("", bytes="200000")
    target = tmp_path / "out.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        response.stream_to_file(target)
    assert target.stat().st_size == 200000
    assert backend.requests()[0]["json"]["voice"] == "alloy"


def test_sdk_errors(client: openai.OpenAI, backend: FakeControl) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", speed=9)
    assert raised.value.body["param"] == "speed"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")
    assert backend.requests() == []


def test_sdk_does_not_retry_a_permanent_refusal_but_retries_a_full_queue(gateway: Server, backend: FakeControl) -> None:
    """The SDKs retry 429 and 5xx twice by default, unless the answer says ``x-should-retry: false``."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=2)
    backend.mode("permanent")
    with pytest.raises(openai.InternalServerError) as raised:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert len(backend.requests()) == 1  # reached the backend exactly once

    httpx.post(f"{backend.url}/_reset").raise_for_status()
    backend.mode("busy")
    with pytest.raises(openai.RateLimitError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert len(backend.requests()) == 3  # the first try and two retries, after Retry-After


def test_several_workers_serve(fake: Server, tmp_path: Path) -> None:
    """WORKERS=2 runs uvicorn worker processes built by the app factory."""
    env = {"WORKERS": "2", "ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url}
    with run_service("gateway", env, tmp_dir=tmp_path) as server:
        assert [m["id"] for m in httpx.get(f"{server.url}/v1/models").json()["data"]] == MODEL_IDS
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert len(psutil.Process(server.process.pid).children()) >= 2
