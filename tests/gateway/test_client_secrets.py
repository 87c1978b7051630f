"""Realtime client secrets (``ek_...``): minted with an API key, bound to the session configuration
given, good for the realtime WebSocket only, on any gateway that shares BACKEND_TOKEN, until they
expire. And the read-only lists Open WebUI asks for without a key (PUBLIC_LISTINGS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from common.realtime_config import decode_object
from fixtures.conformance.schemas import validate
from fixtures.servers import Server, run_service
from gateway.client_secrets import ClientSecrets
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import assert_error

KEY = "sk-client-secrets-0123456789"
TOKEN = "client-secrets-backend-token-0123456789"
SESSION = {
    "type": "transcription",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1", "language": "de"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
        }
    },
}


def _gateway(fake: Server, work_dir: Path, **extra: str) -> Iterator[Server]:
    env = {"ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url, "API_KEY": KEY, "BACKEND_TOKEN": TOKEN, **extra}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


@pytest.fixture(scope="module")
def keyed(fake: Server, work_dir: Path) -> Iterator[Server]:
    yield from _gateway(fake, work_dir)


@pytest.fixture(scope="module")
def twin(fake: Server, work_dir: Path) -> Iterator[Server]:
    """Another replica of the gateway: same BACKEND_TOKEN, and PUBLIC_LISTINGS on."""
    yield from _gateway(fake, work_dir, PUBLIC_LISTINGS="true")


def mint(server: Server, body: dict | None = None, key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/realtime/client_secrets", json=body or {}, headers={"authorization": f"Bearer {key}"}
    )


def open_socket(server: Server, secret: str, *, subprotocol: bool = False) -> dict:
    url = server.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    if subprotocol:  # as a browser offers it: it cannot set headers on a WebSocket
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        with connect(url, subprotocols=protocols, open_timeout=10) as socket_:  # type: ignore[arg-type]
            assert socket_.subprotocol == "realtime"
            return json.loads(socket_.recv(timeout=10))
    with connect(url, additional_headers={"authorization": f"Bearer {secret}"}, open_timeout=10) as socket_:
        return json.loads(socket_.recv(timeout=10))


def test_a_secret_is_minted_for_a_transcription_session(keyed: Server) -> None:
    response = mint(keyed, {"expires_after": {"anchor": "created_at", "seconds": 120}, "session": SESSION})
    assert response.status_code == 200, response.text
    body = response.json()
    validate("RealtimeCreateClientSecretResponse", body)
    assert body["value"].startswith("ek_") and KEY not in body["value"] and TOKEN not in body["value"]
    session = body["session"]
    assert (session["type"], session["object"]) == ("transcription", "realtime.transcription_session")
    assert session["id"].startswith("sess_")
    assert session["audio"]["input"]["transcription"]["language"] == "de"
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 800
    assert 110 <= body["expires_at"] - time.time() <= 121


@pytest.mark.parametrize("subprotocol", [False, True], ids=["bearer", "subprotocol"])
def test_the_secret_opens_the_websocket_with_its_configuration(
    keyed: Server, backend: FakeControl, subprotocol: bool
) -> None:
    secret = mint(keyed, {"session": SESSION}).json()["value"]
    hello = open_socket(keyed, secret, subprotocol=subprotocol)
    handed = decode_object(hello["headers"]["x-realtime-session"])  # what the ASR service is told
    assert handed == {"session": SESSION, "legacy": False}
    assert hello["headers"]["authorization"] == f"Bearer {TOKEN}"  # the backend token, not the secret
    assert open_socket(keyed, secret)["type"] == "hello"  # as often as the client likes until it expires


def test_any_replica_sharing_the_token_takes_it(keyed: Server, twin: Server, backend: FakeControl) -> None:
    secret = mint(keyed, {"session": SESSION}).json()["value"]
    assert open_socket(twin, secret)["type"] == "hello"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/models"), ("POST", "/v1/audio/speech"), ("POST", "/v1/realtime/client_secrets"), ("GET", "/metrics")],
)
def test_the_secret_opens_nothing_else(keyed: Server, backend: FakeControl, method: str, path: str) -> None:
    secret = mint(keyed).json()["value"]
    response = httpx.request(method, f"{keyed.url}{path}", json={}, headers={"authorization": f"Bearer {secret}"})
    assert_error(response, 401, code="invalid_api_key")
    assert backend.requests() == []


@pytest.mark.parametrize("kind", ["expired", "tampered", "foreign"])
def test_expired_tampered_or_foreign_secrets_are_refused(keyed: Server, backend: FakeControl, kind: str) -> None:
    if kind == "expired":  # signed as this gateway signs, expired a second ago
        secret, _ = ClientSecrets(TOKEN).mint(SESSION, legacy=False, seconds=-1)
    elif kind == "tampered":
        payload, _, signature = mint(keyed).json()["value"].partition(".")
        secret = f"{payload}x.{signature}"
    else:  # a gateway with another BACKEND_TOKEN minted it
        secret, _ = ClientSecrets("another-backend-token-0123456789").mint(SESSION, legacy=False, seconds=600)
    with pytest.raises(InvalidStatus) as refused:
        open_socket(keyed, secret)
    assert refused.value.response.status_code == 401
    assert backend.requests() == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"session": {"type": "realtime"}}, "session.type"),
        ({"session": {"type": "transcription", "audio": {"input": {"transcription": {"language": "xx"}}}}},
         "session.audio.input.transcription.language"),
        ({"session": {"type": "transcription", "voice": "alloy"}}, "session.voice"),
        ({"expires_after": {"seconds": 5}}, "expires_after.seconds"),
        ({"expires_after": {"seconds": 7201}}, "expires_after.seconds"),
        ({"expires_after": {"anchor": "now"}}, "expires_after.anchor"),
    ],
)  # fmt: skip
def test_a_bad_configuration_is_400(keyed: Server, body: dict, param: str) -> None:
    assert_error(mint(keyed, body), 400, param)


def test_the_beta_route_answers_the_session_with_its_key(keyed: Server, backend: FakeControl) -> None:
    body = {"input_audio_format": "g711_ulaw", "input_audio_transcription": {"model": "whisper-1", "language": "fr"}}
    response = httpx.post(
        f"{keyed.url}/v1/realtime/transcription_sessions", json=body, headers={"authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200, response.text
    session = response.json()
    validate("RealtimeTranscriptionSessionCreateResponse", session)
    assert session["client_secret"]["value"].startswith("ek_") and session["input_audio_format"] == "g711_ulaw"
    hello = open_socket(keyed, session["client_secret"]["value"])
    assert decode_object(hello["headers"]["x-realtime-session"]) == {"session": body, "legacy": True}


def test_minting_needs_the_api_key(keyed: Server) -> None:
    assert_error(mint(keyed, key="sk-wrong"), 401, code="invalid_api_key")


# --- Open WebUI's read-only lists ------------------------------------------------------------------


def test_speech_models_as_open_webui_reads_them(keyed: Server) -> None:
    models = httpx.get(f"{keyed.url}/v1/audio/models", headers={"authorization": f"Bearer {KEY}"}).json()["models"]
    assert [model["id"] for model in models] == ["tts-1", "tts-1-hd", "coqui-tts"]
    assert all(model["name"].startswith(model["id"]) for model in models)


def test_the_lists_need_the_key_unless_public(keyed: Server, twin: Server, backend: FakeControl) -> None:
    for path in ("/v1/audio/voices", "/v1/audio/models"):
        assert httpx.get(f"{keyed.url}{path}").status_code == 401
        assert httpx.get(f"{twin.url}{path}").status_code == 200  # PUBLIC_LISTINGS=true: as Open WebUI asks
    # Only those two reads: everything else still needs the key.
    assert httpx.post(f"{twin.url}/v1/audio/voices", files={"audio_sample": ("a", b"x")}).status_code == 401
    assert httpx.get(f"{twin.url}/v1/models").status_code == 401
    assert httpx.get(f"{twin.url}/v1/audio/voice_consents").status_code == 401
