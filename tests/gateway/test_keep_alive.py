"""Reused backend connections never fail a request.

The backends close idle connections after their ``KEEP_ALIVE_SECONDS``; the gateway drops its
own idle ones earlier (``BACKEND_KEEPALIVE_SECONDS``), and retries a request whose body can be
sent again (JSON, a spooled upload, a GET) once when its connection fails before any answer.
Short settings (a one-second backend keep-alive) keep these tests fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from fixtures.servers import Server, run_service
from tests.gateway.flaky_proxy import FlakyProxy, flaky_proxy
from tests.gateway.helpers import Form, assert_error

MODEL = ("model", "whisper-1")
SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}
BACKEND_KEEP_ALIVE = 1.0


@pytest.fixture(scope="module")
def short_keep_alive_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"KEEP_ALIVE_SECONDS": str(int(BACKEND_KEEP_ALIVE))}
    with run_service("tests.gateway.fake_backend", env, tmp_dir=tmp_path_factory.mktemp("keepalive")) as server:
        yield server


def _gateway(backend_url: str, keepalive: float, tmp: Path) -> AbstractContextManager[Server]:
    env = {"ASR_BASE_URL": backend_url, "TTS_BASE_URL": backend_url, "BACKEND_KEEPALIVE_SECONDS": str(keepalive)}
    return run_service("gateway", env, tmp_dir=tmp)


KINDS = ("speech", "voices", "streamed-upload", "spooled-upload")


def test_requests_at_gaps_straddling_the_backend_keep_alive_never_fail(
    short_keep_alive_backend: Server, tmp_path: Path
) -> None:
    """The bug this guards against: a request sent just as the backend closes the idle connection
    it goes out on got a 502 (uvicorn's default keep-alive is 5 s; so was the gateway's reuse)."""
    with _gateway(short_keep_alive_backend.url, BACKEND_KEEP_ALIVE / 2, tmp_path) as gateway:
        for gap in (0.90, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1):
            for kind in KINDS:
                response = _requests_of_kind(gateway.url, kind)
                assert response.status_code == 200, f"{kind} after a {gap} s gap: {response.text}"
            time.sleep(gap)  # the idle gap is what is tested


@pytest.fixture(scope="module")
def proxied_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Gateway -> flaky proxy -> fake backend, both keeping idle connections for a minute: a
    connection breaks only when a test breaks it."""
    tmp = tmp_path_factory.mktemp("proxied")
    with (
        run_service("tests.gateway.fake_backend", {"KEEP_ALIVE_SECONDS": "60"}, tmp_dir=tmp) as backend,
        flaky_proxy(backend.url) as proxy,
        _gateway(proxy.url, 60, tmp) as gateway,
    ):
        gateway.proxy = proxy  # type: ignore[attr-defined]
        yield gateway


def _warm(gateway: Server, kind: str) -> FlakyProxy:
    """One request to the backend ``kind`` goes to, so the gateway holds an idle connection to it."""
    proxy: FlakyProxy = gateway.proxy  # type: ignore[attr-defined]
    warm = "spooled-upload" if kind.endswith("upload") else "voices"
    assert _requests_of_kind(gateway.url, warm).status_code == 200
    assert proxy.open_connections() >= 1
    return proxy


@pytest.mark.parametrize("kind", ["speech", "voices", "spooled-upload"])
def test_a_replayable_request_on_a_connection_closed_as_it_is_reused_is_retried(
    proxied_gateway: Server, kind: str
) -> None:
    proxy = _warm(proxied_gateway, kind)
    broken = proxy.broken
    proxy.doom_all()
    response = _requests_of_kind(proxied_gateway.url, kind)
    assert response.status_code == 200, response.text
    assert proxy.broken == broken + 1  # the request did meet the closing connection, and was sent again
    assert "retrying once" in proxied_gateway.log()


def test_a_streamed_upload_on_a_connection_closed_as_it_is_reused_is_502(proxied_gateway: Server) -> None:
    """Its body went on as it arrived, so it cannot be sent twice: the client gets the 502 (the
    keep-alive expiry is what keeps this from happening in practice)."""
    proxy = _warm(proxied_gateway, "streamed-upload")
    proxy.doom_all()
    response = _requests_of_kind(proxied_gateway.url, "streamed-upload")
    error = assert_error(response, 502, None, code="backend_unreachable")
    assert error["message"].startswith("The speech-to-text service did not answer")
    assert httpx.get(f"{proxied_gateway.url}/v1/audio/voices", timeout=10).status_code == 200


def test_killed_idle_connections_are_not_reused(proxied_gateway: Server) -> None:
    proxy = _warm(proxied_gateway, "speech")
    proxy.close_all()
    for kind in KINDS:
        response = _requests_of_kind(proxied_gateway.url, kind)
        assert response.status_code == 200, f"{kind}: {response.text}"
        proxy.close_all()


def _requests_of_kind(url: str, kind: str) -> httpx.Response:
    """One proxied request of a kind: JSON, GET, streamed (fields first) or spooled (file first) upload."""
    if kind == "speech":
        return httpx.post(f"{url}/v1/audio/speech", json=SPEECH, timeout=10)
    if kind == "voices":
        return httpx.get(f"{url}/v1/audio/voices", timeout=10)
    if kind == "streamed-upload":  # sent piece by piece: the gateway forwards it as it arrives
        form = Form(before=[MODEL], file_size=2_000_000)
        content: bytes | Iterator[bytes] = form.chunks(chunk=64 * 1024)
    else:  # the file first: the gateway holds the body until the form is complete
        form = Form(after=[MODEL])
        content = form.body()
    return httpx.post(
        f"{url}/v1/audio/transcriptions", content=content, headers={"content-type": form.content_type}, timeout=10
    )
