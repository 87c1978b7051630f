"""Bad requests get clear 400s, leave no temporary file behind, and the service keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.servers import Server
from fixtures.speech import SENTENCE, speech_file
from tests.asr.conftest import spooled_uploads, transcribe


@pytest.fixture(autouse=True)
def _no_upload_left_behind(asr: Server) -> Iterator[None]:
    yield
    assert spooled_uploads(asr) == []


def _error(response: httpx.Response, status: int = 400) -> dict[str, str]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    return error


def test_non_audio_file(asr: Server, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("This is a text file, not audio.\n" * 50)
    error = _error(transcribe(asr, path))
    assert error["param"] == "file"
    assert "could not be decoded as audio" in error["message"]
    assert str(tmp_path) not in error["message"] and "asr-upload" not in error["message"]


def test_empty_file(asr: Server, tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    error = _error(transcribe(asr, path))
    assert error["param"] == "file" and "empty" in error["message"]


@pytest.mark.parametrize(("container", "keep"), [("wav", 44), ("m4a", 2000), ("webm", 300), ("mp3", 100)])
def test_truncated_file(asr: Server, tmp_path: Path, container: str, keep: int) -> None:
    """A file cut off before any complete audio: nothing to transcribe."""
    path = tmp_path / f"truncated.{container}"
    path.write_bytes(speech_file(SENTENCE, container).read_bytes()[:keep])
    error = _error(transcribe(asr, path))
    assert error["param"] == "file"


def test_missing_file(asr: Server) -> None:
    response = httpx.post(
        f"{asr.url}/v1/audio/transcriptions", files={"model": (None, "whisper-1"), "language": (None, "en")}
    )
    error = _error(response)
    assert error["param"] == "file" and "Missing" in error["message"]


def test_not_multipart(asr: Server) -> None:
    response = httpx.post(f"{asr.url}/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert _error(response, 415)["message"].startswith("Content-Type must be multipart/form-data")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"language": "xx"}, "language"),
        ({"language": "english"}, "language"),
        ({"model": "gpt-4o-transcribe"}, "model"),
        ({"response_format": "docx"}, "response_format"),
        ({"min_speakers": "0"}, "min_speakers"),
        ({"max_speakers": "-3"}, "max_speakers"),
        ({"min_speakers": "5", "max_speakers": "2"}, "min_speakers"),
        ({"max_speakers": "many"}, "max_speakers"),
        ({"min_speakers": "99999999999999999999999999", "max_speakers": "1"}, "min_speakers"),
        ({"advanced": "perhaps"}, "advanced"),
        ({"temperature": "3"}, "temperature"),
        ({"timestamp_granularities[]": "sentence"}, "timestamp_granularities[]"),
    ],
)
def test_invalid_fields(asr: Server, fields: dict[str, str], param: str) -> None:
    error = _error(transcribe(asr, speech_file(SENTENCE, "wav"), **fields))
    assert error["param"] == param


def test_service_still_answers_after_bad_requests(asr: Server) -> None:
    """Runs last in this module: none of the failures above left a lock or a model stuck."""
    response = transcribe(asr, speech_file(SENTENCE, "mp3"))
    assert response.status_code == 200
    assert "fox" in response.json()["text"].lower()
