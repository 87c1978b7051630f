"""The two local-stack configurations the e2e and Wyoming tests run against, each started once per session.

- ``coqui_stack`` (issue 7): tiny.en for ASR and the real Coqui XTTS engine on a tiny random XTTS
  checkpoint (fixtures/tiny_xtts.py: its audio is noise, everything around it is real), with a
  tiny random wav2vec2 aligner so ``advanced=true`` runs the real alignment code offline. It can
  clone voices (issue 16).
- ``embedded_stack`` (issue 9): the quick start exactly as README command 1 runs it: no model
  settings at all, so the launcher's embedded defaults apply (tiny.en + Piper joe-us).

Both keep models warm (MODEL_TTL_SECONDS) so each loads once; the lifecycle is tested per service.
Both run the Wyoming server too (WYOMING_PORT), a light process the Wyoming tests drive.

Async tests (``pytest.mark.anyio``: anyio's pytest plugin) run on asyncio (``anyio_backend``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.asr_models import nltk_data_dir, tiny_aligner_dir
from fixtures.stack import LocalStack, local_stack
from fixtures.tiny_xtts import tiny_xtts_dir

WARM = {"MODEL_TTL_SECONDS": "600"}


@pytest.fixture(scope="session")
def coqui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        **WARM,
        "VOICES_DIR": str(tmp_path_factory.mktemp("coqui-voices")),
        "TTS_ENGINE": "coqui",
        "COQUI_MODEL": str(tiny_xtts_dir()),
        "WHISPERX_ALIGN_MODEL": str(tiny_aligner_dir()),
        "NLTK_DATA": str(nltk_data_dir()),  # empty punkt_tab: the real data comes from GitHub
    }
    log_path = tmp_path_factory.mktemp("coqui-stack") / "run_local.log"
    with local_stack(env, log_path=log_path, wyoming=True) as stack:
        yield stack


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log_path = tmp_path_factory.mktemp("embedded-stack") / "run_local.log"
    env = {**WARM, "VOICES_DIR": str(tmp_path_factory.mktemp("embedded-voices"))}  # not the user's own folder
    with local_stack(env, log_path=log_path, wyoming=True) as stack:
        yield stack


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio, what the services and their clients (httpx, websockets, the OpenAI SDK) run on."""
    return "asyncio"
