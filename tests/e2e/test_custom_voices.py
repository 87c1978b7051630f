"""Custom voices end to end through the gateway on the local stack: the consent recording checked by
the real ASR service (tiny.en), the voice cloned by the real Coqui XTTS code (tiny checkpoint),
speech with it, and every answer validated against OpenAI's published schemas. Driven by the
OpenAI Python SDK (``audio.voice_consents``, ``audio.voices``, ``speech.create(voice={"id"})``).
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from fixtures.conformance.schemas import validate
from fixtures.speech import MORE_SENTENCES, SENTENCES, espeak_file, speech_file
from fixtures.stack import LocalStack
from gateway.consent import STATEMENTS
from tests.e2e.checks import assert_audio

STATEMENT = STATEMENTS["en"]
REFUSAL = "Nobody may copy my voice for any reason at all."


def raw_json(response: Any) -> dict[str, Any]:
    """What the server sent, from an SDK ``with_raw_response`` call."""
    return response.http_response.json()


def error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    validate("ErrorResponse", body)
    return body["error"]


@pytest.fixture(scope="module")
def consent(client: OpenAI) -> dict[str, Any]:
    """espeak-ng reading the statement, checked by tiny.en."""
    with espeak_file(STATEMENT, "wav").open("rb") as recording:
        response = client.audio.voice_consents.with_raw_response.create(
            name="Jane Doe", language="en-US", recording=recording
        )
    body = raw_json(response)
    validate("VoiceConsentResource", body)
    return body


@pytest.fixture(scope="module")
def voice(client: OpenAI, consent: dict[str, Any]) -> dict[str, Any]:
    with speech_file(SENTENCES[:2], "mp3").open("rb") as sample:
        response = client.audio.voices.with_raw_response.create(name="Jane", audio_sample=sample, consent=consent["id"])
    body = raw_json(response)
    validate("VoiceResource", body)
    return body


def test_a_consent_that_says_the_statement_is_accepted(client: OpenAI, consent: dict[str, Any]) -> None:
    assert (consent["name"], consent["language"]) == ("Jane Doe", "en-US")
    retrieved = client.audio.voice_consents.with_raw_response.retrieve(consent["id"])
    assert raw_json(retrieved) == consent


def test_a_consent_that_says_something_else_is_refused(client: OpenAI, coqui_stack: LocalStack) -> None:
    with espeak_file(REFUSAL, "wav").open("rb") as recording, pytest.raises(openai.BadRequestError) as caught:
        client.audio.voice_consents.create(name="Someone", language="en", recording=recording)
    error = error_body(caught.value)
    assert error["param"] == "recording" and error["code"] == "consent_statement_mismatch"
    assert f'"{STATEMENT}"' in error["message"]
    # Nothing was stored, and what the recording said was never logged.
    assert "Someone" not in [c.name for c in client.audio.voice_consents.list(limit=100)]
    assert "copy my voice" not in coqui_stack.log().lower()


def test_speech_with_the_custom_voice(client: OpenAI, voice: dict[str, Any]) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice={"id": voice["id"]}, input="Hello from my own voice.", response_format="wav"
    ) as response:
        assert response.headers["content-type"] == "audio/wav"
        assert_audio(response.read(), "wav")
    # The id as a plain string (what string-only clients send) is the same voice: same audio.
    as_object = client.audio.speech.create(
        model="tts-1",
        voice={"id": voice["id"]},
        input="Same words.",
        response_format="pcm",
        extra_body={"stream": False},
    ).content
    as_string = client.audio.speech.create(
        model="tts-1", voice=voice["id"], input="Same words.", response_format="pcm", extra_body={"stream": False}
    ).content
    assert as_object == as_string and len(as_object) > 0


def test_custom_voices_are_listed(coqui_stack: LocalStack, voice: dict[str, Any]) -> None:
    listed = httpx.get(f"{coqui_stack.url}/v1/audio/voices", timeout=30).json()
    assert voice in listed["custom"]
    for custom in listed["custom"]:
        validate("VoiceResource", custom)


def test_consents_list_pages_and_rename(client: OpenAI, coqui_stack: LocalStack, consent: dict[str, Any]) -> None:
    page = httpx.get(f"{coqui_stack.url}/v1/audio/voice_consents", params={"limit": 1}, timeout=30).json()
    validate("VoiceConsentListResource", page)
    assert consent["id"] in [c.id for c in client.audio.voice_consents.list(limit=1)]  # the SDK pages on
    renamed = client.audio.voice_consents.with_raw_response.update(consent["id"], name="Jane D.")
    validate("VoiceConsentResource", raw_json(renamed))
    assert client.audio.voice_consents.retrieve(consent["id"]).name == "Jane D."


def test_withdrawing_a_consent_deletes_its_voices(client: OpenAI) -> None:
    with espeak_file(STATEMENT, "wav").open("rb") as recording:
        consent = client.audio.voice_consents.create(name="Briefly", language="en-GB", recording=recording)
    with speech_file(MORE_SENTENCES[:2], "flac").open("rb") as sample:
        voice = client.audio.voices.create(name="Brief voice", audio_sample=sample, consent=consent.id)

    deleted = client.audio.voice_consents.with_raw_response.delete(consent.id)

    validate("VoiceConsentDeletedResource", raw_json(deleted))
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice={"id": voice.id}, input="Gone?")
    assert error_body(caught.value)["param"] == "voice"
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.voices.delete(voice.id)
    error_body(missing.value)
    with pytest.raises(openai.BadRequestError) as refused, speech_file(SENTENCES[:2]).open("rb") as sample:
        client.audio.voices.create(name="Again", audio_sample=sample, consent=consent.id)
    assert error_body(refused.value)["param"] == "consent"


def test_deleting_a_voice(client: OpenAI, consent: dict[str, Any]) -> None:
    with speech_file(MORE_SENTENCES[2:], "wav").open("rb") as sample:
        voice = client.audio.voices.create(name="Temporary", audio_sample=sample, consent=consent["id"])
    deleted = client.audio.voices.delete(voice.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (voice.id, True, "audio.voice.deleted")
    assert client.audio.voice_consents.retrieve(consent["id"]).id == consent["id"]  # the consent stays


@pytest.mark.parametrize(
    ("call", "param"),
    [
        pytest.param(lambda c: c.audio.voice_consents.retrieve("cons_unknown"), None, id="unknown-consent"),
        pytest.param(lambda c: c.audio.voice_consents.delete("cons_unknown"), None, id="delete-unknown-consent"),
        pytest.param(lambda c: c.audio.voices.delete("voice_unknown"), None, id="delete-unknown-voice"),
    ],
)
def test_unknown_ids_are_404(client: OpenAI, call: Any, param: str | None) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        call(client)
    assert error_body(caught.value)["param"] == param


def test_bad_voice_uploads_are_400(client: OpenAI, consent: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as unknown, speech_file(SENTENCES[:2]).open("rb") as sample:
        client.audio.voices.create(name="x", audio_sample=sample, consent="cons_nope")
    assert error_body(unknown.value)["param"] == "consent"
    with pytest.raises(openai.BadRequestError) as short, speech_file("Hi.").open("rb") as sample:
        client.audio.voices.create(name="x", audio_sample=sample, consent=consent["id"])
    error = error_body(short.value)
    assert error["param"] == "audio_sample" and "s of speech" in error["message"]
    with pytest.raises(openai.BadRequestError) as garbage:
        client.audio.voice_consents.create(name="x", language="en", recording=("consent.wav", b"not audio" * 100))
    assert error_body(garbage.value)["param"] == "recording"
