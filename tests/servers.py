"""Start real services on loopback ports for tests, and stop them cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def peak_rss_during(self, action: Callable[[], T]) -> tuple[T, int]:
        """``action()``'s result, and this server's peak RSS (sampled every 50 ms) while it ran."""
        peak = self.rss()
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, self.rss())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = action()
        finally:
            done.set()
            sampler.join()
        return result, peak


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``condition`` until it returns something true; return that (AssertionError past ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout:g} s"
        time.sleep(0.05)
    return result


def wait_model_state(server: Server, expected: str, timeout: float = 10.0) -> str:
    """Poll a backend's /healthz until its ``model`` state is ``expected``; return the last state.

    A request's models are released after its response has gone out, so right after a response
    the state may still be changing."""
    deadline = time.monotonic() + timeout
    while (state := httpx.get(f"{server.url}/healthz").json()["model"]) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def wait_healthy(
    url: str, process: subprocess.Popen[bytes] | None, timeout: float, log_path: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-4000:] if log_path else ""
            raise RuntimeError(f"server exited with {process.returncode} before it was healthy:\n{tail}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy within {timeout} s")


@contextmanager
def run_service(
    module: str, env: Mapping[str, str] | None = None, *, tmp_dir: Path, timeout: float = 60.0
) -> Iterator[Server]:
    """Run ``python -m module`` (the services' real entry point) on a free loopback port."""
    port = free_port()
    full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), **(env or {})}
    log_path = tmp_dir / f"{module.replace('.', '_')}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=REPO, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, timeout, log_path)
        yield Server(url=url, process=process, log_path=log_path)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
