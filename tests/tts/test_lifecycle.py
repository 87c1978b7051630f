"""MODEL_TTL_SECONDS=0: the model is loaded per request and released after it; requests run one
at a time; a client that goes away stops synthesis."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fixtures.servers import Server, model_state, run_service, wait_model_state
from fixtures.tiny_xtts import LANGUAGES, SPEAKERS, tiny_xtts_dir
from fixtures.waiting import wait_until
from tests.tts.helpers import pcm_seconds, speak

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"COQUI_MODEL": str(tiny_xtts_dir()), "MODEL_TTL_SECONDS": "0", "STREAM_CHUNK_TOKENS": "8"}
    with run_service("coqui_tts", env, tmp_dir=tmp_path_factory.mktemp("ttl0")) as running:
        yield running


def test_model_is_released_after_each_request(server: Server) -> None:
    assert model_state(server) == "not_loaded"
    first = speak(server, response_format="pcm")  # also imports torch and Coqui, which stay
    assert first.status_code == 200
    wait_model_state(server, "not_loaded")
    before = server.rss()

    second, peak = server.peak_rss_during(lambda: speak(server, response_format="pcm"))

    assert second.status_code == 200
    wait_model_state(server, "not_loaded")
    after = server.rss()
    assert peak - before > 100 * MB, "the model was in memory during the request"
    assert after - before < 60 * MB, f"RSS {before / MB:.0f} MB before, {after / MB:.0f} MB after"


def test_concurrent_requests_are_serialized(server: Server) -> None:
    log_start = len(server.log())
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: speak(server, response_format="pcm"), range(2)))

    assert [r.status_code for r in responses] == [200, 200]
    assert all(pcm_seconds(r.content) > 0 for r in responses)

    # One request at a time: each load is followed by its unload before the next load.
    def events() -> list[str]:
        return [
            "load" if "loading model" in line else "unload"
            for line in server.log()[log_start:].splitlines()
            if "loading model" in line or "common.lifecycle: unloading" in line
        ]

    # The last unload follows the last response's end: its line may come a moment after the client has all.
    wait_until(lambda: len(events()) >= 4, 10, "two loads and two unloads in the log")
    assert events() == ["load", "unload"] * 2


def test_client_disconnect_stops_synthesis(server: Server) -> None:
    text = " ".join(f"This is sentence number {n}." for n in range(30))
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm", "stream": True}
    log_start = len(server.log())
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=120) as response:
        next(response.iter_raw())
    # The connection is closed: synthesis stops long before thirty sentences are spoken.
    server.wait_for_log("common.lifecycle: unloading", timeout=30, since=log_start)
    log = server.log()[log_start:]
    assert "synthesis stopped: the client went away" in log
    # The worker stopped before the model was released and the slot given to the next request.
    assert -1 < log.find("synthesis stopped after") < log.find("common.lifecycle: unloading")
    assert speak(server, response_format="pcm").status_code == 200


def test_a_response_dropped_before_its_first_chunk_frees_the_slot(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The request owns the inference slot, not its response: a client that hangs up before any
    audio was sent leaves nothing held (with MAX_QUEUE=0 a held slot would refuse everyone)."""
    env = {"TTS_ENGINE": "piper", "MAX_QUEUE": "0", "MODEL_TTL_SECONDS": "600"}
    with run_service("coqui_tts", env, tmp_dir=tmp_path_factory.mktemp("drop")) as server:
        assert speak(server, response_format="pcm").status_code == 200  # the model is loaded and warm
        body = json.dumps({"model": "tts-1", "input": "Hello there. " * 20, "voice": "alloy", "stream": True})
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(5):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    f"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
            # ... and gone before the first byte of the answer.

        def admitted() -> httpx.Response | None:  # until the dropped requests are noticed, one is refused (429)
            response = speak(server, response_format="pcm")
            return None if response.status_code == 429 else response

        response = wait_until(admitted, 10, "a request that is not refused", interval=0.1)
        assert response.status_code == 200, response.text
        assert "synthesis stopped" in server.log() or "its request was cancelled" in server.log()


def test_voices_are_listed_without_the_model_or_the_slot(server: Server) -> None:
    """GET /v1/audio/voices reads the model's files: it loads nothing and answers at once even
    while a synthesis holds the inference slot."""
    wait_model_state(server, "not_loaded")
    voices = httpx.get(f"{server.url}/v1/audio/voices", timeout=10).json()
    assert voices["builtin"] == list(SPEAKERS) and voices["languages"] == list(LANGUAGES)
    assert model_state(server) == "not_loaded"

    text = " ".join(f"This is sentence number {n}." for n in range(30))
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=120) as speaking:
        next(speaking.iter_raw())  # the synthesis is running: the slot is taken
        started = time.monotonic()
        during = httpx.get(f"{server.url}/v1/audio/voices", timeout=10)
        assert during.status_code == 200 and during.json()["builtin"] == list(SPEAKERS)
        assert time.monotonic() - started < 2, "the voice list waited for the synthesis"
