"""Bad requests get clear 400s in the OpenAI envelope, and the service keeps answering."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fixtures.servers import Server
from tests.tts.helpers import pcm_seconds, speak

GOOD = {"model": "tts-1", "input": "Hello.", "voice": "alloy"}


@pytest.mark.parametrize(
    ("change", "param", "says"),
    [
        ({"input": ""}, "input", "at least 1 character"),
        ({"input": "   "}, "input", "only whitespace"),
        ({"input": "x" * 4097}, "input", "at most 4096"),
        ({"speed": 0.1}, "speed", "greater than or equal to 0.25"),
        ({"speed": 4.5}, "speed", "less than or equal to 4"),
        ({"response_format": "ogg"}, "response_format", "'mp3'"),
        ({"model": "tts-2"}, "model", "'tts-1'"),
        ({"stream_format": "json"}, "stream_format", "'audio' or 'sse'"),
        ({"voice": None}, "voice", ""),
        ({"language": "ja"}, "language", "en, de, es, fr"),
    ],
)
def test_bad_request(coqui_server: Server, change: dict[str, Any], param: str, says: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = httpx.post(f"{coqui_server.url}/v1/audio/speech", json=body, timeout=120)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert says in error["message"]


def test_invalid_json(coqui_server: Server) -> None:
    response = httpx.post(
        f"{coqui_server.url}/v1/audio/speech", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_still_answering_after_bad_requests(coqui_server: Server) -> None:
    httpx.post(f"{coqui_server.url}/v1/audio/speech", json={**GOOD, "language": "ja"}, timeout=120)

    assert httpx.get(f"{coqui_server.url}/healthz").json()["status"] == "ok"
    assert pcm_seconds(speak(coqui_server, response_format="pcm").content) > 0


def test_extra_fields_are_ignored(coqui_server: Server) -> None:
    response = speak(coqui_server, response_format="pcm", vendor_option=True)

    assert response.status_code == 200
