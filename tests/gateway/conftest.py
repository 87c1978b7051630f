"""Gateway test fixtures: the real gateway (``python -m gateway``) and a real fake backend on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.servers import Server, free_port, run_service


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="session")
def fake(work_dir: Path) -> Iterator[Server]:
    with run_service("tests.gateway.fake_backend", tmp_dir=work_dir) as server:
        yield server


@pytest.fixture(scope="session")
def spool_dir(work_dir: Path) -> Path:
    path = work_dir / "spool"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def gateway(fake: Server, work_dir: Path, spool_dir: Path) -> Iterator[Server]:
    env = {"ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url, "SPOOL_DIR": str(spool_dir)}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


@pytest.fixture(scope="session")
def strict_gateway(fake: Server, work_dir: Path) -> Iterator[Server]:
    """Small upload limit and short timeouts (1 s for backends and for a stalled request head or body)."""
    env = {
        "ASR_BASE_URL": fake.url,
        "TTS_BASE_URL": fake.url,
        "MAX_UPLOAD_BYTES": "1000000",
        "TTS_TIMEOUT_SECONDS": "1",
        "ASR_READ_TIMEOUT_SECONDS": "1",
        "REQUEST_BODY_TIMEOUT_SECONDS": "1",
        "REQUEST_HEADER_TIMEOUT_SECONDS": "1",
    }
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


@pytest.fixture(scope="session")
def orphan_gateway(work_dir: Path) -> Iterator[Server]:
    """Both backends point at a loopback port nobody listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    with run_service("gateway", {"ASR_BASE_URL": dead, "TTS_BASE_URL": dead}, tmp_dir=work_dir) as server:
        yield server


class FakeControl:
    def __init__(self, url: str) -> None:
        self.url = url

    def mode(self, mode: str, **params: Any) -> None:
        httpx.post(f"{self.url}/_mode", params={"mode": mode, **params}).raise_for_status()

    def release(self) -> None:
        httpx.post(f"{self.url}/_release").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_requests").json()


@pytest.fixture
def backend(fake: Server) -> FakeControl:
    """The fake backend, reset before each test."""
    httpx.post(f"{fake.url}/_reset").raise_for_status()
    return FakeControl(fake.url)
