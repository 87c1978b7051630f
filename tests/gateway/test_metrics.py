"""The gateway's GET /metrics: requests by route template and status, durations on a speech scale,
attempts per backend replica by outcome, replica state, and one coherent exposition from several
worker processes. Real gateway and fake backend processes on loopback; the exposition is read with
prometheus-client's parser."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import httpx

from fixtures.servers import REPO, Server, free_port, run_service
from fixtures.waiting import wait_until
from tests.gateway.conftest import FakeControl
from tests.gateway.test_replicas import SPEECH, fake_backend, gateway_env, speak, speak_until
from tests.metrics import scrape


def test_requests_are_counted_by_route_template_method_and_status(gateway: Server) -> None:
    before = scrape(gateway.url)
    assert httpx.get(f"{gateway.url}/v1/models/whisper-1").status_code == 200
    assert httpx.get(f"{gateway.url}/v1/models/no-such-model-7").status_code == 404
    assert httpx.get(f"{gateway.url}/nothing/here/42").status_code == 404
    assert httpx.post(f"{gateway.url}/v1/audio/speech", json={"model": "tts-1"}).status_code == 400
    after = scrape(gateway.url)

    def added(route: str, method: str, status: str) -> float:
        labels = {"service": "gateway", "route": route, "method": method, "status": status}
        return after.value("speech_requests_total", **labels) - before.value("speech_requests_total", **labels)

    assert added("/v1/models/{model_id}", "GET", "200") == 1
    assert added("/v1/models/{model_id}", "GET", "404") == 1
    assert added("unrouted", "GET", "404") == 1  # never the path a client made up
    assert added("/v1/audio/speech", "POST", "400") == 1
    routes = after.labels("speech_requests_total", "route")
    assert not [route for route in routes if "no-such-model" in route or "nothing" in route], routes

    count = {"service": "gateway", "route": "/v1/models/{model_id}", "method": "GET"}
    durations = after.value("speech_request_duration_seconds_count", **count)
    assert durations - before.value("speech_request_duration_seconds_count", **count) == 2
    bounds = {float(le) for le in after.labels("speech_request_duration_seconds_bucket", "le")}
    assert max(bound for bound in bounds if math.isfinite(bound)) >= 600  # speech work takes minutes
    assert after.value("speech_requests_in_flight", service="gateway") == 1  # the scrape itself


def test_backend_attempts_are_counted_by_replica_and_outcome(work_dir: Path) -> None:
    """Three TTS replicas: nothing listens on the first (refused, then rested), the second's queue
    is full (429: the request moves on), the third answers."""
    dead = f"http://127.0.0.1:{free_port()}"
    with fake_backend(work_dir) as full, fake_backend(work_dir) as good:
        full.mode("busy")
        urls = f"{dead},{full.url},{good.url}"
        env = {**gateway_env(good.url, urls), "BACKEND_REST_SECONDS": "60"}  # rested for the whole test
        with run_service("gateway", env, tmp_dir=work_dir) as server:
            sent = speak_until(
                server, lambda: scrape(server.url).value("speech_backend_requests_total", replica=dead) > 0
            )
            exposition = scrape(server.url)
        refused_by_full = len([r for r in full.requests() if r["path"] == "/v1/audio/speech"])
    tts = {"backend": "tts"}
    assert exposition.value("speech_backend_requests_total", **tts, replica=dead, outcome="refused") == 1
    assert exposition.value("speech_backend_requests_total", **tts, replica=full.url, outcome="retried") == (
        refused_by_full
    )
    assert exposition.value("speech_backend_requests_total", **tts, replica=good.url, outcome="ok") == sent
    assert exposition.value("speech_backend_requests_total", **tts) == sent + refused_by_full + 1
    assert exposition.value("speech_backend_replicas", **tts) == 3
    assert exposition.value("speech_backend_replicas", backend="asr") == 1
    assert exposition.value("speech_backend_replica_up", **tts, replica=dead) == 0
    assert exposition.value("speech_backend_replica_up", **tts, replica=full.url) == 1
    assert exposition.value("speech_backend_replica_up", **tts, replica=good.url) == 1


def test_a_full_queue_passed_to_the_client_is_busy(work_dir: Path) -> None:
    with fake_backend(work_dir) as only:
        only.mode("busy")
        with run_service("gateway", gateway_env(only.url, only.url), tmp_dir=work_dir) as server:
            assert speak(server).status_code == 429
            exposition = scrape(server.url)
    assert exposition.value("speech_backend_requests_total", backend="tts", replica=only.url, outcome="busy") == 1


def _stale_values(directory: Path) -> None:
    """Values an earlier gateway run left in the metrics directory: 1000 answered /v1/models."""
    code = "from common.metrics import REQUESTS; REQUESTS.labels('gateway', '/v1/models', 'GET', '200').inc(1000)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=60)


def test_two_workers_give_one_exposition(work_dir: Path, fake: Server, backend: FakeControl) -> None:
    """WORKERS=2: each worker records its own requests, and whichever answers a scrape reports the
    requests of both; values from an earlier run in PROMETHEUS_MULTIPROC_DIR are dropped at start."""
    directory = work_dir / f"metrics-{free_port()}"
    directory.mkdir()
    _stale_values(directory)
    assert list(directory.glob("counter_*.db"))
    env = {**gateway_env(fake.url, fake.url), "WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    requests = 40
    with run_service("gateway", env, tmp_dir=work_dir) as server:

        def worker_ids() -> set[int]:  # a gauge file each, once a worker's app is built
            return {int(name.stem.rsplit("_", 1)[1]) for name in directory.glob("gauge_livesum_*.db")}

        wait_until(lambda: len(worker_ids()) >= 2, 30, "each worker's app to be built")
        workers = worker_ids()
        assert len(workers) == 2, workers
        for _ in range(requests):  # a connection each: the workers take turns accepting them
            assert httpx.get(f"{server.url}/v1/models", headers={"connection": "close"}).status_code == 200
        assert httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH).status_code == 200
        recorded = {int(name.stem.rsplit("_", 1)[1]) for name in directory.glob("counter_*.db")}
        assert recorded == workers, "both workers answered requests"
        for _ in range(6):  # whichever worker answers, the same totals
            exposition = scrape(server.url)
            labels = {"service": "gateway", "route": "/v1/models", "method": "GET", "status": "200"}
            assert exposition.value("speech_requests_total", **labels) == requests
            assert exposition.value("speech_request_duration_seconds_count", route="/v1/models") == requests
            assert exposition.value("speech_backend_requests_total", backend="tts", outcome="ok") == 1
            assert exposition.value("speech_backend_replicas", backend="tts") == 1  # livemax: not 2
            assert exposition.value("speech_requests_in_flight", service="gateway") == 1  # livesum: the scrape
