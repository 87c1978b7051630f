"""The custom-voice routes in the gateway, in front of the fake backend (ASR and TTS at once): the
consent flow it composes (ASR transcript checked against the statement, then the TTS stores the
consent), validation before any backend is asked, and what it forwards to the TTS service."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.conformance.schemas import validate
from fixtures.servers import Server, run_service
from gateway.consent import STATEMENTS, word_error_rate
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import assert_error

STATEMENT = STATEMENTS["en"]
RECORDING = b"RIFF" + bytes(range(256)) * 40  # the fake ASR does not decode it
CONSENT_FIELDS = {"name": "Jane Doe", "language": "en-US"}


@pytest.fixture(scope="module")
def unchecked_gateway(fake: Server, work_dir: Path) -> Iterator[Server]:
    env = {"ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url, "VOICE_CONSENT_CHECK": "false"}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


def post_consent(
    url: str, fields: dict[str, str] = CONSENT_FIELDS, recording: bytes | None = RECORDING
) -> httpx.Response:
    # Without the file, a plain text part keeps the body multipart.
    files = {"recording": ("consent.wav", recording, "audio/wav")} if recording is not None else {"note": (None, "")}
    return httpx.post(f"{url}/v1/audio/voice_consents", data=fields, files=files, timeout=30)


def post_voice(url: str, fields: dict[str, str], sample: bytes | None = RECORDING) -> httpx.Response:
    files = {"audio_sample": ("sample.wav", sample, "audio/wav")} if sample is not None else {"note": (None, "")}
    return httpx.post(f"{url}/v1/audio/voices", data=fields, files=files, timeout=30)


def paths(backend: FakeControl) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in backend.requests()]


def make_consent(gateway: Server, backend: FakeControl) -> dict[str, Any]:
    backend.mode("statement")
    response = post_consent(gateway.url)
    assert response.status_code == 200, response.text
    backend.mode("")
    return response.json()


def test_statement_word_error_rate() -> None:
    assert word_error_rate(STATEMENT, STATEMENT.upper().replace(".", "!")) == 0
    # What tiny.en hears in espeak's reading: two words wrong of 18.
    heard = "I am the owner of this voice, and I consent to get used for creating a synthetic voice."
    assert word_error_rate(STATEMENT, heard) == pytest.approx(2 / 18)
    assert word_error_rate(STATEMENT, "") == 1
    assert word_error_rate(STATEMENT, STATEMENT + " " + STATEMENT) == 1  # 18 words too many


def test_consent_saying_the_statement_is_stored(gateway: Server, backend: FakeControl) -> None:
    backend.mode("statement")
    response = post_consent(gateway.url)

    assert response.status_code == 200, response.text
    validate("VoiceConsentResource", response.json())
    assert response.json()["name"] == "Jane Doe" and response.json()["language"] == "en-US"
    transcription, stored = backend.requests()
    assert (transcription["path"], stored["path"]) == ("/v1/audio/transcriptions", "/v1/audio/voice_consents")
    assert transcription["content_type"].startswith("multipart/form-data")
    assert transcription["size"] > len(RECORDING)  # the recording, in the ASR service's own form
    assert stored["json"] == {"name": "Jane Doe", "language": "en-US", "verified": True}


def test_consent_not_saying_the_statement_is_refused_quoting_it(gateway: Server, backend: FakeControl) -> None:
    error = assert_error(post_consent(gateway.url), 400, "recording", code="consent_statement_mismatch")

    assert f'"{STATEMENT}"' in error["message"]
    assert '"hello world"' in error["message"]  # what the fake ASR heard
    assert paths(backend) == ["POST /v1/audio/transcriptions"]  # nothing stored


def test_asr_refusals_reach_the_client(gateway: Server, backend: FakeControl) -> None:
    backend.mode("error")
    response = post_consent(gateway.url)

    assert_error(response, 429, code="queue_full")
    assert response.headers["retry-after"] == "7"
    assert paths(backend) == ["POST /v1/audio/transcriptions"]


def test_consent_check_off_never_asks_the_asr(unchecked_gateway: Server, backend: FakeControl) -> None:
    response = post_consent(unchecked_gateway.url, {"name": "Me", "language": "de-CH"})

    assert response.status_code == 200, response.text
    assert paths(backend) == ["POST /v1/audio/voice_consents"]
    assert backend.requests()[0]["json"] == {"name": "Me", "language": "de-CH", "verified": False}


@pytest.mark.parametrize(
    ("fields", "recording", "status", "param", "code"),
    [
        pytest.param({"language": "en"}, RECORDING, 400, "name", "missing_required_parameter", id="no-name"),
        pytest.param({"name": "  "}, RECORDING, 400, "name", "missing_required_parameter", id="blank-name"),
        pytest.param({"name": "x" * 257, "language": "en"}, RECORDING, 400, "name", None, id="long-name"),
        pytest.param({"name": "a"}, RECORDING, 400, "language", "missing_required_parameter", id="no-language"),
        pytest.param({"name": "a", "language": "english"}, RECORDING, 400, "language", None, id="not-bcp47"),
        pytest.param(
            {"name": "a", "language": "de-DE"}, RECORDING, 400, "language", "unsupported_language", id="no-statement"
        ),
        pytest.param(CONSENT_FIELDS, None, 400, "recording", "missing_required_parameter", id="no-recording"),
        pytest.param(CONSENT_FIELDS, b"", 400, "recording", "empty_file", id="empty-recording"),
        pytest.param(CONSENT_FIELDS, b"\0" * (10 * 2**20 + 1), 413, "recording", "file_too_large", id="over-10-mib"),
    ],
)
def test_consent_validation(
    gateway: Server,
    backend: FakeControl,
    fields: dict[str, str],
    recording: bytes | None,
    status: int,
    param: str,
    code: str | None,
) -> None:
    error = assert_error(post_consent(gateway.url, fields, recording), status, param, code=code)
    assert backend.requests() == []
    if code == "unsupported_language":
        assert "en (English)" in error["message"]


def test_consent_needs_a_multipart_form(gateway: Server, backend: FakeControl) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/voice_consents", json=CONSENT_FIELDS)
    error = assert_error(response, 415, code="unsupported_media_type")
    assert "'recording'" in error["message"]
    assert backend.requests() == []


def test_a_declared_oversized_body_is_refused_before_it_is_read(gateway: Server, backend: FakeControl) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/voices HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 20000000\r\n\r\n"
        )
        answer = b""
        while b"}}" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"param":"audio_sample"' in answer
    assert backend.requests() == []


def test_voice_creation_forwards_the_form_to_tts(gateway: Server, backend: FakeControl) -> None:
    consent = make_consent(gateway, backend)
    response = post_voice(gateway.url, {"name": "My voice", "consent": consent["id"], "type": "audio_sample"})

    assert response.status_code == 200, response.text
    validate("VoiceResource", response.json())
    created = backend.requests()[-1]
    assert created["path"] == "/v1/audio/voices"
    assert created["fields"] == {"name": "My voice", "consent": consent["id"]}
    assert created["sample_bytes"] == len(RECORDING)


@pytest.mark.parametrize(
    ("fields", "sample", "param", "code"),
    [
        pytest.param({"consent": "cons_1"}, RECORDING, "name", "missing_required_parameter", id="no-name"),
        pytest.param({"name": "v"}, RECORDING, "consent", "missing_required_parameter", id="no-consent"),
        pytest.param(
            {"name": "v", "consent": "cons_1"}, None, "audio_sample", "missing_required_parameter", id="no-sample"
        ),
        pytest.param(
            {"name": "v", "consent": "cons_1", "type": "prompt"},
            RECORDING,
            "type",
            "unsupported_value",
            id="prompt-voice",
        ),
    ],
)
def test_voice_validation(
    gateway: Server, backend: FakeControl, fields: dict[str, str], sample: bytes | None, param: str, code: str
) -> None:
    assert_error(post_voice(gateway.url, fields, sample), 400, param, code=code)
    assert backend.requests() == []


def test_unknown_consent_is_the_tts_services_400(gateway: Server, backend: FakeControl) -> None:
    assert_error(post_voice(gateway.url, {"name": "v", "consent": "cons_404"}), 400, "consent")


def test_consent_routes_are_proxied(gateway: Server, backend: FakeControl) -> None:
    consent = make_consent(gateway, backend)
    url = f"{gateway.url}/v1/audio/voice_consents"

    listed = httpx.get(url, params={"limit": 5})
    assert listed.status_code == 200
    validate("VoiceConsentListResource", listed.json())
    assert backend.requests()[-1]["query"] == "limit=5"
    renamed = httpx.post(f"{url}/{consent['id']}", json={"name": "  New name "})
    assert renamed.status_code == 200, renamed.text
    assert backend.requests()[-1]["json"] == {"name": "New name"}
    assert httpx.get(f"{url}/{consent['id']}").json()["name"] == "New name"
    deleted = httpx.delete(f"{url}/{consent['id']}")
    assert deleted.status_code == 200
    validate("VoiceConsentDeletedResource", deleted.json())
    assert_error(httpx.get(f"{url}/{consent['id']}"), 404)


@pytest.mark.parametrize(
    ("params", "param"), [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "many"}, "limit")]
)
def test_list_limits(gateway: Server, backend: FakeControl, params: dict[str, Any], param: str) -> None:
    assert_error(httpx.get(f"{gateway.url}/v1/audio/voice_consents", params=params), 400, param)
    assert backend.requests() == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "param"),
    [
        pytest.param(b"{}", {"content-type": "application/json"}, 400, "name", id="no-name"),
        pytest.param(b'{"name": " "}', {"content-type": "application/json"}, 400, "name", id="blank-name"),
        pytest.param(b"name=x", {"content-type": "application/x-www-form-urlencoded"}, 415, None, id="form"),
        pytest.param(b"{", {"content-type": "application/json"}, 400, None, id="bad-json"),
    ],
)
def test_rename_validation(
    gateway: Server, backend: FakeControl, body: bytes, headers: dict[str, str], status: int, param: str | None
) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/voice_consents/cons_1", content=body, headers=headers)
    assert_error(response, status, param)
    assert backend.requests() == []


def test_ids_reach_the_backend_as_one_path_segment(gateway: Server, backend: FakeControl) -> None:
    response = httpx.get(f"{gateway.url}/v1/audio/voice_consents/cons x%3Fy")
    assert_error(response, 404, code="not_found")
    assert backend.requests()[-1]["raw_path"] == "/v1/audio/voice_consents/cons%20x%3Fy"


def test_deleting_an_unknown_voice_is_404(gateway: Server, backend: FakeControl) -> None:
    assert_error(httpx.delete(f"{gateway.url}/v1/audio/voices/voice_404"), 404, code="not_found")


def test_custom_voice_routes_are_documented(gateway: Server) -> None:
    openapi = httpx.get(f"{gateway.url}/openapi.json").json()
    schemas = openapi["components"]["schemas"]
    for path, form, required in [
        ("/v1/audio/voice_consents", "ConsentForm", {"name", "recording", "language"}),
        ("/v1/audio/voices", "VoiceForm", {"name", "audio_sample", "consent"}),
    ]:
        body = openapi["paths"][path]["post"]["requestBody"]["content"]
        assert body["multipart/form-data"]["schema"] == {"$ref": f"#/components/schemas/{form}"}
        assert set(schemas[form]["required"]) == required
    for path, method, model in [
        ("/v1/audio/voice_consents", "post", "VoiceConsentResource"),
        ("/v1/audio/voice_consents", "get", "VoiceConsentListResource"),
        ("/v1/audio/voice_consents/{consent_id}", "get", "VoiceConsentResource"),
        ("/v1/audio/voice_consents/{consent_id}", "post", "VoiceConsentResource"),
        ("/v1/audio/voice_consents/{consent_id}", "delete", "VoiceConsentDeletedResource"),
        ("/v1/audio/voices", "post", "VoiceResource"),
        ("/v1/audio/voices/{voice_id}", "delete", "VoiceDeletedResource"),
    ]:
        responses = openapi["paths"][path][method]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert model in schemas
        assert any(status.startswith("4") for status in responses), (path, method)
    # The speech body's custom voice reference resolves to a component of its own.
    voice = schemas["SpeechRequest"]["properties"]["voice"]
    assert {"$ref": "#/components/schemas/CustomVoiceRef"} in voice["anyOf"]
    assert schemas["CustomVoiceRef"]["required"] == ["id"]
    assert json.dumps(openapi).count("#/$defs/") == 0
