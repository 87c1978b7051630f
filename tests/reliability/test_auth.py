"""Optional API key: with API_KEY set, /v1/* needs ``Authorization: Bearer <key>``; docs and health stay open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fixtures.servers import Server, run_service
from tests.reliability.client import RawClient, assert_envelope, body_of
from tests.reliability.conftest import FakeControl, fake_gateway_env
from tests.reliability.procs import Service

KEY = "sk-test-0123456789"


@pytest.fixture(scope="module")
def keyed(fake: Service, work_dir: Path, spool: Path) -> Iterator[Server]:
    env = {**fake_gateway_env(fake.url, fake.url, spool), "API_KEY": KEY}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {KEY}", KEY, f"Bearer {KEY}x", f"Bearer {KEY[:-1]}"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/whisper-1"),
        ("POST", "/v1/audio/speech"),
        ("POST", "/v1/audio/transcriptions"),
        ("GET", "/v1/audio/voices"),
        ("GET", "/v1/nothing-here"),
    ],
)
def test_missing_or_wrong_key_is_401(
    keyed: Server, backend: FakeControl, authorization: str | None, method: str, path: str
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = httpx.request(method, f"{keyed.url}{path}", headers=headers, json={"model": "tts-1"})
    error = assert_envelope(response, 401, "invalid_api_key")
    assert KEY not in response.text
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert error["type"] == "authentication_error"
    assert backend.requests() == []


def test_refused_before_the_upload_is_read(keyed: Server, backend: FakeControl) -> None:
    client = RawClient(keyed.url)
    try:
        client.send_head("POST", "/v1/audio/transcriptions", {
            "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10**9)})  # fmt: skip
        status, raw, _ = client.read_response(timeout=5)
    finally:
        client.close()
    assert status == 401 and b"invalid_api_key" in body_of(raw)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_right_key_passes(keyed: Server, backend: FakeControl, scheme: str) -> None:
    headers = {"authorization": f"{scheme} {KEY}"}
    assert httpx.get(f"{keyed.url}/v1/models", headers=headers).status_code == 200
    speech = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}
    assert httpx.post(f"{keyed.url}/v1/audio/speech", json=speech, headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/healthz", "/readyz"])
def test_docs_and_health_stay_open(keyed: Server, path: str) -> None:
    assert httpx.get(f"{keyed.url}{path}").status_code == 200


def test_docs_offer_bearer_auth(keyed: Server) -> None:
    """Swagger UI's "Authorize" button: the schema declares the bearer scheme for /v1 routes."""
    schema = httpx.get(f"{keyed.url}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert schema["paths"]["/v1/audio/speech"]["post"].get("security") or schema.get("security")


def test_openai_sdk_api_key(keyed: Server, backend: FakeControl) -> None:
    good = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=KEY, max_retries=0)
    assert {m.id for m in good.models.list()} >= {"whisper-1", "tts-1"}
    assert good.audio.speech.create(model="tts-1", input="Hi.", voice="alloy").content.startswith(b"RIFF")
    bad = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad.models.list()
    assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"


def test_no_key_configured_means_no_auth(fake_gateway: Server) -> None:
    assert httpx.get(f"{fake_gateway.url}/v1/models").status_code == 200
