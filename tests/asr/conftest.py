"""ASR test servers: real ``python -m asr`` processes on loopback with the real tiny.en model.

Models load once per test session: ``asr`` (the plain service as the quick start runs it: no
alignment model configured, models kept warm) and ``chunked_asr`` (tiny chunks, the tiny aligner
of fixtures/asr_models.py as WHISPERX_ALIGN_MODEL, pyannote replaced by the documented
stand-in) serve most tests, and ``rt`` the realtime sessions; the lifecycle tests start their own servers with
MODEL_TTL_SECONDS=0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures import asr_models
from fixtures.servers import Server, run_service

CHUNK_SECONDS = 10.0
CHUNK_OVERLAP_SECONDS = 3.0


def asr_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """The settings a user sets to run the service on the tiny.en model, fully offline."""
    (tmp / "spool").mkdir(exist_ok=True)
    (tmp / "hf").mkdir(exist_ok=True)
    env = {
        "WHISPERX_MODEL": asr_models.tiny_en_path(),
        "NLTK_DATA": str(asr_models.nltk_data_dir()),
        "MODEL_TTL_SECONDS": "600",
        "DEVICE": "cpu",
        "CPU_THREADS": "2",  # the test machines have 2 cores; more threads only contend
        "TMPDIR": str(tmp / "spool"),  # uploads are spooled here: tests check none is left
        "HF_HOME": str(tmp / "hf"),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "info",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def asr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("asr")
    with run_service("asr", asr_env(tmp), tmp_dir=tmp) as server:
        yield server


@pytest.fixture(scope="session")
def chunked_asr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Chunks of 10 s with 3 s overlap past 10 s, the tiny aligner and the stand-in diarization pipeline."""
    tmp = tmp_path_factory.mktemp("chunked-asr")
    env = asr_env(
        tmp,
        WHISPERX_ALIGN_MODEL=str(asr_models.tiny_aligner_dir()),
        HF_TOKEN="hf_test_token_not_used_by_the_stand_in",
        CHUNK_SECONDS=str(CHUNK_SECONDS),
        CHUNK_OVERLAP_SECONDS=str(CHUNK_OVERLAP_SECONDS),
        CHUNK_THRESHOLD_SECONDS=str(CHUNK_SECONDS),
    )
    with run_service("tests.asr.diarization_standin", env, tmp_dir=tmp) as server:
        yield server


RT_MAX_AUDIO_SECONDS = 6


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """For realtime sessions: unloads its model when idle (MODEL_TTL_SECONDS=0), allows two
    sessions and 6 s turns, so those limits are cheap to reach."""
    tmp = tmp_path_factory.mktemp("realtime-asr")
    env = asr_env(
        tmp, MODEL_TTL_SECONDS="0", MAX_REALTIME_SESSIONS="2", MAX_AUDIO_SECONDS=str(RT_MAX_AUDIO_SECONDS),
        LOG_LEVEL="debug",  # each transcription pass is logged (test_realtime.py counts them)
    )  # fmt: skip
    with run_service("asr", env, tmp_dir=tmp) as server:
        yield server


def spooled_uploads(server: Server) -> list[Path]:
    """Upload spool files left in the server's TMPDIR (torch keeps its own temp dir there too)."""
    return sorted((server.log_path.parent / "spool").glob("asr-upload-*"))


def transcribe(
    server: Server, path: Path | None, *, route: str = "transcriptions", timeout: float = 120,
    headers: dict[str, str] | None = None, **fields: Any,
) -> httpx.Response:  # fmt: skip
    """POST a file the way an OpenAI client does (multipart, field ``file``)."""
    data: dict[str, Any] = {"model": "whisper-1", **fields}
    files = {"file": (path.name, path.read_bytes())} if path is not None else None
    return httpx.post(f"{server.url}/v1/audio/{route}", data=data, files=files, headers=headers, timeout=timeout)
