"""Who may call the gateway, and what public answers reveal: several API keys (and a key file), the
access log naming a key only by its tag, CORS for browser pages on other origins, the realtime
WebSocket's Origin check, BACKEND_TOKEN sent on every backend request, and error answers that
never name a backend's URL, host or port."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from fixtures.servers import Server, free_port, run_service
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import assert_error
from tests.metrics import scrape

KEYS = ("sk-first-0123456789", "sk-second-9876543210")
FILE_KEY = "sk-from-file-abcdef"
TOKEN = "backend-token-0123456789abcdef"
PAGE = "https://app.example.com"
SPEECH = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}


def tag(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@pytest.fixture(scope="module")
def keyed(fake: Server, work_dir: Path) -> Iterator[Server]:
    """Two keys in API_KEY, a third in API_KEY_FILE; a browser origin allowed; the backend token set."""
    key_file = work_dir / "api-keys.txt"
    key_file.write_text(f"# one key a line\n\n{FILE_KEY}\n")
    env = {
        "ASR_BASE_URL": fake.url,
        "TTS_BASE_URL": fake.url,
        "API_KEY": f" {KEYS[0]},{KEYS[1]} ",
        "API_KEY_FILE": str(key_file),
        "CORS_ALLOW_ORIGINS": f"{PAGE}, http://localhost:3000",
        "BACKEND_TOKEN": TOKEN,
    }
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize("key", [*KEYS, FILE_KEY])
def test_every_configured_key_works_and_the_log_names_it_by_its_tag(
    keyed: Server, backend: FakeControl, key: str
) -> None:
    request_id = f"access-{tag(key)}"
    response = httpx.post(
        f"{keyed.url}/v1/audio/speech", json=SPEECH, headers={**bearer(key), "x-request-id": request_id}
    )
    assert response.status_code == 200, response.text
    line = keyed.wait_for_log(f"[{request_id}]", '"POST /v1/audio/speech" 200')
    assert line.endswith(f" key {tag(key)}"), line
    assert key not in keyed.log()


@pytest.mark.parametrize("key", ["sk-third-1111111111", KEYS[0][:-1], f"{KEYS[0]},{KEYS[1]}", "# one key a line"])
def test_other_keys_are_refused(keyed: Server, backend: FakeControl, key: str) -> None:
    assert_error(httpx.get(f"{keyed.url}/v1/models", headers=bearer(key)), 401, code="invalid_api_key")
    assert backend.requests() == []


def test_metrics_needs_a_key_too(keyed: Server) -> None:
    assert_error(httpx.get(f"{keyed.url}/metrics"), 401, code="invalid_api_key")
    assert httpx.get(f"{keyed.url}/metrics", headers=bearer("sk-wrong")).status_code == 401
    # With a key, as Prometheus' scrape config sends it. Refusals come before routing: no route
    # label, and never the path.
    exposition = scrape(keyed.url, headers=bearer(KEYS[0]))
    refused = {"service": "gateway", "method": "GET", "status": "401"}
    assert exposition.value("speech_requests_total", route="unrouted", **refused) >= 2
    assert exposition.value("speech_requests_total", route="/metrics", status="200") == 0  # counted once answered


def test_an_unreadable_key_file_stops_start_up(work_dir: Path) -> None:
    missing = work_dir / "no-such-keys.txt"
    env = {"API_KEY_FILE": str(missing), "PORT": str(free_port()), "HOST": "127.0.0.1"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway"], env={**_base_env(), **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "API_KEY_FILE" in result.stderr and str(missing) in result.stderr


def _base_env() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if name not in ("API_KEY", "API_KEY_FILE")}


# --- Backend token -------------------------------------------------------------------------------


def test_the_backend_token_goes_with_every_backend_request(keyed: Server, backend: FakeControl) -> None:
    headers = bearer(KEYS[0])
    assert httpx.post(f"{keyed.url}/v1/audio/speech", json=SPEECH, headers=headers).status_code == 200
    files = {"file": ("a.wav", b"RIFF" + bytes(100))}
    transcription = httpx.post(
        f"{keyed.url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files, headers=headers
    )
    assert transcription.status_code == 200
    assert httpx.get(f"{keyed.url}/v1/audio/voices", headers=headers).status_code == 200
    seen = [(record["path"], record["authorization"]) for record in backend.requests()]
    assert {path for path, _ in seen} >= {"/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/voices"}
    assert {authorization for _, authorization in seen} == {f"Bearer {TOKEN}"}, seen
    # The client's own key never reaches a backend.
    assert not any(KEYS[0] in (authorization or "") for _, authorization in seen)


def test_the_backend_token_goes_with_the_websocket_upgrade(keyed: Server) -> None:
    url = keyed.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    with connect(url, additional_headers=bearer(KEYS[1]), open_timeout=10) as socket_:
        hello = json.loads(socket_.recv(timeout=10))
    assert hello["headers"]["authorization"] == f"Bearer {TOKEN}"


# --- CORS ----------------------------------------------------------------------------------------


def preflight(server: Server, origin: str, method: str = "POST") -> httpx.Response:
    return httpx.options(
        f"{server.url}/v1/audio/speech",
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "authorization, content-type",
        },
    )


def test_preflight_from_an_allowed_origin_is_answered(keyed: Server) -> None:
    response = preflight(keyed, PAGE)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PAGE
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_an_allowed_page_can_read_the_answer(keyed: Server, backend: FakeControl) -> None:
    response = httpx.post(f"{keyed.url}/v1/audio/speech", json=SPEECH, headers={**bearer(KEYS[0]), "origin": PAGE})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PAGE
    assert "x-request-id" in response.headers["access-control-expose-headers"]


def test_another_origin_gets_no_cors_headers(keyed: Server, backend: FakeControl) -> None:
    response = preflight(keyed, "https://evil.example.net")
    assert response.status_code == 400  # Starlette refuses the preflight
    assert "access-control-allow-origin" not in response.headers
    answer = httpx.get(f"{keyed.url}/v1/models", headers={**bearer(KEYS[0]), "origin": "https://evil.example.net"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_no_cors_unless_configured(gateway: Server) -> None:
    response = preflight(gateway, PAGE)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in httpx.get(f"{gateway.url}/v1/models", headers={"origin": PAGE}).headers


def realtime(server: Server, headers: dict[str, str]) -> dict:
    url = server.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    with connect(url, additional_headers=headers, open_timeout=10) as socket_:
        return json.loads(socket_.recv(timeout=10))


@pytest.mark.parametrize("origin", [PAGE, "http://localhost:3000", None])
def test_realtime_from_an_allowed_origin_or_no_browser(keyed: Server, origin: str | None) -> None:
    headers = {**bearer(KEYS[0]), **({"origin": origin} if origin else {})}
    assert realtime(keyed, headers)["type"] == "hello"


def test_realtime_from_the_gateways_own_page(keyed: Server) -> None:
    """The playground is served by the gateway itself: its origin is always allowed."""
    assert realtime(keyed, {**bearer(KEYS[0]), "origin": keyed.url})["type"] == "hello"


def test_realtime_from_a_foreign_origin_is_refused(keyed: Server, backend: FakeControl) -> None:
    with pytest.raises(InvalidStatus) as refused:
        realtime(keyed, {**bearer(KEYS[0]), "origin": "https://evil.example.net"})
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"]["code"] == "origin_not_allowed"
    assert backend.requests() == []


# --- No internal topology in public answers ---------------------------------------------------------


def assert_no_topology(body: str, *addresses: str) -> None:
    assert "http://" not in body and "ws://" not in body, body
    assert "127.0.0.1" not in body and "localhost" not in body, body
    for address in addresses:
        host, _, port = address.rpartition("://")[2].partition(":")
        assert host not in body, body
        assert not re.search(rf"(?<!\d){port}(?!\d)", body), body


@pytest.fixture(scope="module")
def dead_backend_url() -> str:
    """A backend address where nothing listens (a backend that was killed)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def killed(work_dir: Path) -> Iterator[tuple[Server, str]]:
    """A gateway whose backend is a real process, killed once the gateway has used it."""
    with run_service("tests.gateway.fake_backend", tmp_dir=work_dir) as fake_backend:
        env = {"ASR_BASE_URL": fake_backend.url, "TTS_BASE_URL": fake_backend.url}
        with run_service("gateway", env, tmp_dir=work_dir) as server:
            assert httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH).status_code == 200
            fake_backend.process.kill()
            fake_backend.process.wait()
            yield server, fake_backend.url


def test_a_killed_backend_is_a_502_naming_the_service_only(killed: tuple[Server, str]) -> None:
    server, address = killed
    speech = httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH)
    error = assert_error(speech, 502, code="backend_unreachable")
    assert error["message"].startswith("The text-to-speech service did not answer"), error
    assert_no_topology(speech.text, address)
    files = {"file": ("a.wav", b"RIFF" + bytes(100))}
    transcription = httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)
    assert assert_error(transcription, 502, code="backend_unreachable")["message"].startswith(
        "The speech-to-text service did not answer"
    )
    assert_no_topology(transcription.text, address)
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["backends"]["asr"]["error"] == "the speech-to-text service did not answer"
    assert_no_topology(ready.text, address)
    # The log keeps the detail.
    assert address in server.wait_for_log("TTS backend request failed")


def test_a_killed_backend_refuses_the_websocket_without_its_address(killed: tuple[Server, str]) -> None:
    server, address = killed
    with pytest.raises(InvalidStatus) as refused:
        realtime(server, {})
    assert refused.value.response.status_code == 502
    body = refused.value.response.body.decode()
    assert "speech-to-text service" in body
    assert_no_topology(body, address)


def test_a_hung_backend_is_a_504_naming_the_service_only(strict_gateway: Server, backend: FakeControl) -> None:
    backend.mode("sleep", seconds=5)
    response = httpx.post(f"{strict_gateway.url}/v1/audio/speech", json=SPEECH, timeout=30)
    error = assert_error(response, 504, code="backend_timeout")
    assert error["message"] == "The text-to-speech service did not answer in time."
    assert_no_topology(response.text, backend.url)


def test_an_unknown_backend_name_says_nothing_of_it(work_dir: Path) -> None:
    """A backend name that does not resolve: the answer says the service did not answer, not which name."""
    name = "no-such-backend.invalid"  # .invalid never resolves (RFC 2606)
    env = {"ASR_BASE_URL": f"http://{name}:5001", "TTS_BASE_URL": f"http://{name}:5002"}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        response = httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH, timeout=30)
    assert_error(response, 502, code="backend_unreachable")
    assert name not in response.text and "5002" not in response.text
