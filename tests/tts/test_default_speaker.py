"""An XTTS model without built-in speakers speaks with the default reference in the TTS cache,
fetched once when missing (here from a loopback HTTP server standing in for the real URL)."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from common.api_types import OPENAI_VOICES
from fixtures.servers import Server, free_port, run_service
from fixtures.tiny_xtts import tiny_xtts_dir
from tests.tts.helpers import pcm_seconds, speak


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A directory served over loopback HTTP, and the URL the reference will have there."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{port}/reference.flac"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, served: tuple[Path, str]) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("no-speakers")
    cache = tmp / "tts-cache"
    env = {
        "COQUI_MODEL": str(tiny_xtts_dir(())),
        "TTS_HOME": str(cache),  # Coqui's cache is $TTS_HOME/tts: the reference goes there
        "DEFAULT_SPEAKER_URL": served[1],
        "MODEL_TTL_SECONDS": "600",
    }
    with run_service("coqui_tts", env, tmp_dir=tmp) as running:
        yield running, cache / "tts" / "default-speaker.flac"


def test_voices_say_every_voice_uses_the_default_reference(server: tuple[Server, Path]) -> None:
    voices = httpx.get(f"{server[0].url}/v1/audio/voices", timeout=120).json()

    assert voices["builtin"] == []
    assert voices["openai"] == dict.fromkeys(OPENAI_VOICES)
    assert "default speaker reference" in voices["note"]


def test_missing_reference_is_503_with_the_path_then_fetched_once(
    server: tuple[Server, Path], served: tuple[Path, str]
) -> None:
    running, reference = server
    missing = speak(running, response_format="pcm")

    assert missing.status_code == 503
    assert str(reference) in missing.json()["error"]["message"]
    assert not reference.exists()

    rate = 22050
    t = np.arange(3 * rate) / rate
    soundfile.write(served[0] / "reference.flac", (0.3 * np.sin(2 * np.pi * 160 * t)).astype(np.float32), rate)
    request_id = uuid.uuid4().hex
    response = speak(running, response_format="pcm", voice="alloy", request_id=request_id)

    assert response.status_code == 200, response.text
    assert pcm_seconds(response.content) > 0
    assert reference.is_file()
    assert "as the default speaker reference" in running.wait_for_log(f"[{request_id}]", "speaking")
