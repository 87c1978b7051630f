"""Model lifetime with MODEL_TTL_SECONDS=0, by-name loading from the HF cache, load failures, cancellation."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures import asr_models
from fixtures.servers import Server, model_state, run_service, wait_model_state
from fixtures.speech import MORE_SENTENCES, SENTENCE, SENTENCES, speech_file
from tests.asr.conftest import asr_env, spooled_uploads, transcribe


@pytest.fixture(scope="module")
def turbo_ttl0(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """WHISPERX_MODEL=turbo resolved through a Hugging Face cache, offline, unloading after every
    request. The cache holds tiny.en planted under the repo faster-whisper maps ``turbo`` to: the
    by-name code path users run, without the 1.6 GB download."""
    tmp = tmp_path_factory.mktemp("asr-ttl0")
    env = asr_env(tmp, WHISPERX_MODEL="turbo", MODEL_TTL_SECONDS="0", CHUNK_SECONDS="10",
                  CHUNK_THRESHOLD_SECONDS="10")  # fmt: skip
    asr_models.plant_in_hf_cache(asr_models.tiny_en_path(), Path(env["HF_HOME"]))
    with run_service("asr", env, tmp_dir=tmp) as server:
        yield server


def test_by_name_model_loads_from_the_cache_and_is_released_after_each_request(turbo_ttl0: Server) -> None:
    assert model_state(turbo_ttl0) == "not_loaded"
    first = transcribe(turbo_ttl0, speech_file(SENTENCE, "wav"), model="turbo")
    assert first.status_code == 200, first.text
    assert "lazy dog" in first.json()["text"].lower()
    wait_model_state(turbo_ttl0, "not_loaded")
    # Libraries are imported now; what a loaded model adds must be given back after the request.
    before = turbo_ttl0.rss()
    second, peak = turbo_ttl0.peak_rss_during(
        lambda: transcribe(turbo_ttl0, speech_file(SENTENCE, "mp3"), model="whisper-1")
    )
    assert second.status_code == 200
    wait_model_state(turbo_ttl0, "not_loaded")
    after = turbo_ttl0.rss()
    assert "unloading whisper:turbo" in turbo_ttl0.log()
    grown, held = peak - before, after - before
    assert grown > 50 * 2**20, f"loading the model should show in RSS (grew {grown / 2**20:.0f} MiB)"
    assert held < 0.5 * grown, f"RSS kept {held / 2**20:.0f} MiB of the {grown / 2**20:.0f} MiB the model used"


def test_client_that_disconnects_stops_the_work(turbo_ttl0: Server) -> None:
    path = speech_file(SENTENCES + MORE_SENTENCES, "mp3")  # three 10 s chunks
    with (
        httpx.Client(timeout=120) as client,
        client.stream(
            "POST", f"{turbo_ttl0.url}/v1/audio/transcriptions",
            data={"model": "whisper-1", "stream": "true"}, files={"file": (path.name, path.read_bytes())},
        ) as response,
    ):  # fmt: skip
        assert response.status_code == 200
        first = next(response.iter_lines())
        assert first.startswith('data: {"type": "transcript.text.delta"')
    # Connection closed after the first chunk: the rest is cancelled and the model released.
    turbo_ttl0.wait_for_log("transcription stream cancelled", timeout=30)
    wait_model_state(turbo_ttl0, "not_loaded", 30)
    assert spooled_uploads(turbo_ttl0) == []


def test_client_that_times_out_cancels_a_plain_request(turbo_ttl0: Server) -> None:
    path = speech_file(SENTENCES + MORE_SENTENCES, "mp3")
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        transcribe(turbo_ttl0, path, timeout=1.0)
    turbo_ttl0.wait_for_log("client disconnected; its request was cancelled", timeout=30)
    wait_model_state(turbo_ttl0, "not_loaded", 30)
    assert spooled_uploads(turbo_ttl0) == []
    assert transcribe(turbo_ttl0, speech_file(SENTENCE, "wav")).status_code == 200


def test_model_that_cannot_be_loaded_is_503_naming_model_and_setting(tmp_path: Path) -> None:
    """A model name that is neither in the cache nor downloadable (the hub is unreachable)."""
    model = "large-v3"
    with run_service("asr", asr_env(tmp_path, WHISPERX_MODEL=model, MODEL_TTL_SECONDS="0"), tmp_dir=tmp_path) as server:
        for _ in range(2):  # the failure leaves nothing stuck: the next request is answered the same way
            response = transcribe(server, speech_file(SENTENCE, "wav"))
            assert response.status_code == 503
            assert response.headers["x-should-retry"] == "false"  # permanent: no SDK retry can fix it
            error = response.json()["error"]
            assert model in error["message"] and "WHISPERX_MODEL" in error["message"]
            assert error["type"] == "server_error"
        assert model_state(server) == "failed"
        assert spooled_uploads(server) == []


def test_sigterm_stops_the_service_and_its_temporary_files_go_with_it(tmp_path: Path) -> None:
    """As Docker and Kubernetes stop a container: the service drains, exits with 143, and what its
    libraries put in TMPDIR is gone (torch's folder there is removed by an exit handler). Left by
    design: onnxruntime's fixed-name session-id file (``.ses``), rewritten at each start, not piled up."""
    env = asr_env(tmp_path)
    with run_service("asr", env, tmp_dir=tmp_path) as server:
        assert transcribe(server, speech_file(SENTENCE, "wav")).status_code == 200
        assert [p for p in Path(env["TMPDIR"]).iterdir() if p.name != ".ses"]  # torch's folder, while it runs
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 128 + signal.SIGTERM
    assert "Finished server process" in server.log()
    assert [p.name for p in Path(env["TMPDIR"]).iterdir()] in ([], [".ses"])
