"""Who the TTS service believes about consents (the consent-check bypass, as a regression test).

A voice may be cloned only from a consent whose recording the gateway checked. The service keeps
consents and believes a consent's ``verified`` flag only from a caller that presented
BACKEND_TOKEN; without a token configured it believes nobody. Both servers here run the tiny XTTS
checkpoint with the consent check on (the default).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fixtures.servers import Server, run_service
from fixtures.speech import SENTENCES, speech_file
from fixtures.tiny_xtts import tiny_xtts_dir
from tests.gateway.helpers import assert_error
from tests.metrics import scrape

TOKEN = "tts-trust-token-0123456789abcdef"
GUARD = {"authorization": f"Bearer {TOKEN}"}
CONSENT = {"name": "Jane Doe", "language": "en-US", "verified": True}


def _server(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[Server]:
    base = {
        "TTS_ENGINE": "coqui",
        "COQUI_MODEL": str(tiny_xtts_dir()),
        "VOICES_DIR": str(tmp_path_factory.mktemp("trust-voices")),
        "MODEL_TTL_SECONDS": "600",
        "HF_HUB_OFFLINE": "1",
    }
    with run_service("coqui_tts", {**base, **env}, tmp_dir=tmp_path_factory.mktemp("trust")) as server:
        yield server


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, BACKEND_TOKEN=TOKEN)


@pytest.fixture(scope="module")
def unguarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory)


def clone(server: Server, consent_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    sample = speech_file(SENTENCES[:2], "wav").read_bytes()
    return httpx.post(
        f"{server.url}/v1/audio/voices",
        data={"name": "Jane", "consent": consent_id},
        files={"audio_sample": ("sample.wav", sample)},
        headers=headers or {},
        timeout=180,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/audio/voice_consents"),
        ("GET", "/v1/audio/voice_consents"),
        ("POST", "/v1/audio/voices"),
        ("GET", "/v1/audio/voices"),
        ("POST", "/v1/audio/speech"),
        ("GET", "/v1/nothing-here"),
        ("GET", "/metrics"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789abcdef", f"Bearer {TOKEN}x", TOKEN])
def test_without_the_token_every_route_is_401(
    guarded: Server, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = httpx.request(method, f"{guarded.url}{path}", json=CONSENT, headers=headers)
    error = assert_error(response, 401, code="invalid_backend_token")
    assert TOKEN not in response.text and "BACKEND_TOKEN" in error["message"]


def test_health_stays_open(guarded: Server) -> None:
    health = httpx.get(f"{guarded.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert httpx.get(f"{guarded.url}/readyz").status_code == 404  # no such route: nothing to guard


def test_prometheus_with_the_token_reads_the_metrics(guarded: Server) -> None:
    """As the documented scrape config sends it (``authorization: credentials``)."""
    assert httpx.get(f"{guarded.url}/metrics").status_code == 401
    exposition = scrape(guarded.url, headers=GUARD)
    refused = exposition.value("speech_requests_total", service="coqui-tts", route="unrouted", status="401")
    assert refused >= 1  # refusals come before routing: no route, and never their paths
    assert exposition.value("speech_queue_depth", service="coqui-tts") == 0  # what the autoscaler reads


def test_the_gateway_with_the_token_is_believed(guarded: Server) -> None:
    consent = httpx.post(f"{guarded.url}/v1/audio/voice_consents", json=CONSENT, headers=GUARD)
    assert consent.status_code == 200, consent.text
    voices = httpx.get(f"{guarded.url}/v1/audio/voices", headers=GUARD, timeout=60)  # the first reads XTTS' table
    assert voices.status_code == 200
    created = clone(guarded, consent.json()["id"], GUARD)
    assert created.status_code == 200, created.text
    assert created.json()["id"].startswith("voice_")


def test_without_a_token_configured_nobody_is_believed(unguarded: Server) -> None:
    """The bypass: a caller on the backends' network stores a consent claiming it was checked."""
    consent = httpx.post(f"{unguarded.url}/v1/audio/voice_consents", json=CONSENT)
    assert consent.status_code == 200, consent.text  # kept, as unchecked
    consent_id = consent.json()["id"]
    error = assert_error(clone(unguarded, consent_id), 400, "consent", code="consent_not_verified")
    assert consent_id in error["message"] and "POST /v1/audio/voice_consents" in error["message"]
    assert "created custom voice" not in unguarded.log()
    # The refusal comes before the model is asked: no model was loaded for it.
    assert httpx.get(f"{unguarded.url}/healthz").json()["model"] == "not_loaded"


def test_consent_check_off_clones_from_unchecked_consents(tmp_path_factory: pytest.TempPathFactory) -> None:
    """VOICE_CONSENT_CHECK=false: the operator clones only their own voice."""
    for server in _server(tmp_path_factory, VOICE_CONSENT_CHECK="false"):
        consent = httpx.post(f"{server.url}/v1/audio/voice_consents", json=CONSENT).json()
        created = clone(server, consent["id"])
        assert created.status_code == 200, created.text


def test_the_token_never_reaches_the_log(guarded: Server) -> None:
    assert TOKEN not in guarded.log()
