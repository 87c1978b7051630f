"""Several replicas behind one backend setting: requests spread by the fewest in flight, a full
(429) or refusing replica hands the request to another, a replica that died is rested and used
again once it is back, a host name stands for every address it resolves to (a real resolver:
/etc/hosts in a mount namespace of the gateway's own), and a realtime WebSocket stays on the
replica it opened on. Real gateway and fake backend processes on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from fixtures.servers import REPO, Server, free_port, run_service, stop, wait_healthy
from fixtures.waiting import wait_until
from tests.gateway.conftest import FakeControl

SPEECH = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}
RESTED = "did not take a connection; resting it"


@contextmanager
def fake_backend(work_dir: Path, host: str = "127.0.0.1", port: int | None = None) -> Iterator[FakeControl]:
    port = port or free_port()
    log_path = work_dir / f"fake-{host}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.fake_backend"],
            cwd=REPO,
            env={**os.environ, "HOST": host, "PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, process, 30, log_path)
        yield FakeControl(url)
    finally:
        stop(process)


def gateway_env(asr: str, tts: str) -> dict[str, str]:
    return {"ASR_BASE_URL": asr, "TTS_BASE_URL": tts, "BACKEND_REST_SECONDS": "1", "BACKEND_RESOLVE_SECONDS": "0.5"}


@pytest.fixture
def pair(work_dir: Path) -> Iterator[tuple[FakeControl, FakeControl]]:
    with fake_backend(work_dir) as first, fake_backend(work_dir) as second:
        yield first, second


def speak(server: Server) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH, timeout=30)


def speak_until(server: Server, done: Callable[[], bool], most: int = 30) -> int:
    """Speech requests, each answered 200, until ``done()`` (at most ``most``); how many were sent.
    Ties between replicas are broken at random: this is how a test gets a given replica tried."""
    sent = 0
    while not done() and sent < most:
        assert speak(server).status_code == 200
        sent += 1
    return sent


def counts(*backends: FakeControl) -> list[int]:
    return [len([r for r in backend.requests() if r["path"] == "/v1/audio/speech"]) for backend in backends]


def wait_in_flight(backends: tuple[FakeControl, ...], count: int) -> None:
    wait_until(lambda: sum(counts(*backends)) >= count, 10, f"{count} request(s) at the replicas")


def test_requests_spread_over_replicas_by_fewest_in_flight(
    pair: tuple[FakeControl, FakeControl], work_dir: Path
) -> None:
    first, second = pair
    for backend in pair:
        backend.mode("hold")  # each answer waits for a release: requests stay in flight
    urls = f"{first.url},{second.url}"
    with run_service("gateway", gateway_env(urls, urls), tmp_dir=work_dir) as server, ThreadPoolExecutor(6) as pool:
        answers = []
        for _ in range(6):
            answers.append(pool.submit(speak, server))
            wait_in_flight(pair, len(answers))  # each one in flight before the next is sent
        assert counts(first, second) == [3, 3]  # the fewest in flight each time: never 4 and 2
        for backend in pair:
            backend.release()
        assert [answer.result().status_code for answer in answers] == [200] * 6


def test_a_full_replica_hands_the_request_to_another(pair: tuple[FakeControl, FakeControl], work_dir: Path) -> None:
    first, second = pair
    first.mode("busy")  # 429: its queue is full
    urls = f"{first.url},{second.url}"
    with run_service("gateway", gateway_env(urls, urls), tmp_dir=work_dir) as server:
        for _ in range(4):
            assert speak(server).status_code == 200
        busy, served = counts(first, second)
        assert served == 4 and busy <= 4  # every one answered by the free replica
        second.mode("busy")
        refused = speak(server)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"  # both full: the client waits


def test_a_refusing_replica_is_rested_and_used_again_once_back(work_dir: Path) -> None:
    port = free_port()
    with fake_backend(work_dir) as alive, ExitStack() as stack:
        urls = f"http://127.0.0.1:{port},{alive.url}"  # nothing listens on the first yet
        server = stack.enter_context(run_service("gateway", gateway_env(urls, urls), tmp_dir=work_dir))
        sent = speak_until(server, lambda: RESTED in server.log())
        assert RESTED in server.log()
        assert counts(alive) == [sent]  # the refused connection moved on to the live replica
        back = stack.enter_context(fake_backend(work_dir, port=port))

        def chosen_again() -> bool:  # rested for 1 s, then chosen again
            assert speak(server).status_code == 200
            return counts(back)[0] >= 1

        wait_until(chosen_again, 10, "a request to reach the replica that is back")


def test_a_streamed_upload_moves_on_from_a_refusing_replica(work_dir: Path) -> None:
    """Nothing of the body went out when the connection was refused: even a streamed upload moves on."""
    dead = f"http://127.0.0.1:{free_port()}"
    with fake_backend(work_dir) as alive:
        urls = f"{dead},{alive.url}"
        with run_service("gateway", gateway_env(urls, urls), tmp_dir=work_dir) as server:
            for _ in range(3):
                files = {"file": ("a.wav", b"RIFF" + bytes(300_000))}
                response = httpx.post(
                    f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files, timeout=30
                )
                assert response.status_code == 200, response.text
        assert [r["path"] for r in alive.requests()] == ["/v1/audio/transcriptions"] * 3


def test_a_name_stands_for_every_address_it_resolves_to(work_dir: Path) -> None:
    """``replicas.test`` resolves (through the gateway's own /etc/hosts) to 127.0.0.1 and 127.0.0.2,
    each with a backend on the same port; when the name drops an address, the gateway follows.
    The gateway runs in a mount namespace of its own (root, as the test command runs)."""
    assert os.geteuid() == 0 and shutil.which("unshare"), "needs root and util-linux's unshare"
    port = free_port()
    hosts = work_dir / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 replicas.test\n127.0.0.2 replicas.test\n")
    with fake_backend(work_dir, "127.0.0.1", port) as first, fake_backend(work_dir, "127.0.0.2", port) as second:
        url = f"http://replicas.test:{port}"
        gateway_port = free_port()
        env = {**os.environ, **gateway_env(url, url), "HOST": "127.0.0.1", "PORT": str(gateway_port)}
        log_path = work_dir / f"gateway-dns-{gateway_port}.log"
        command = f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -m gateway"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                ["unshare", "-m", "sh", "-c", command], cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        server_url = f"http://127.0.0.1:{gateway_port}"
        try:
            wait_healthy(server_url, process, 60, log_path)
            server = Server(server_url, process, log_path)
            for backend in (first, second):
                backend.mode("hold")  # two requests in flight at once: one on each address
            with ThreadPoolExecutor(2) as pool:
                answers = [pool.submit(speak, server) for _ in range(2)]
                wait_in_flight((first, second), 2)
                assert counts(first, second) == [1, 1]
                for backend in (first, second):
                    backend.release()
                assert [answer.result().status_code for answer in answers] == [200, 200]
            # The name now stands for one address only: after the next lookup, only that one is asked
            # (through the name itself, as a single backend is).
            hosts.write_text("127.0.0.1 localhost\n127.0.0.1 replicas.test\n")
            wait_until(lambda: _last_replicas(log_path).endswith(f"replicas: http://replicas.test:{port}"), 10)
            before = counts(second)
            for _ in range(4):
                assert speak(server).status_code == 200
            assert counts(second) == before
            assert json.loads(httpx.get(f"{server_url}/readyz").text)["backends"]["tts"]["replicas"] == 1
        finally:
            stop(process)


def _last_replicas(log_path: Path) -> str:
    lines = [line for line in log_path.read_text().splitlines() if "TTS backend replicas:" in line]
    return lines[-1] if lines else ""


def test_a_realtime_session_stays_on_its_replica(pair: tuple[FakeControl, FakeControl], work_dir: Path) -> None:
    """Two sessions open at once go to the two replicas (fewest in flight), each for its whole life."""
    first, second = pair
    urls = f"{first.url},{second.url}"
    with run_service("gateway", gateway_env(urls, urls), tmp_dir=work_dir) as server:
        ws = server.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
        with connect(ws) as one, connect(ws) as two:
            for socket_ in (one, two):
                assert json.loads(socket_.recv(timeout=10))["type"] == "hello"
            for index in range(5):
                for name, socket_ in (("one", one), ("two", two)):
                    socket_.send(f"{name}-{index}")
                    assert json.loads(socket_.recv(timeout=10)) == {"type": "echo", "text": f"{name}-{index}"}
    sessions = [[r for r in backend.requests() if r["path"] == "/v1/realtime"] for backend in pair]
    assert [len(s) for s in sessions] == [1, 1]
