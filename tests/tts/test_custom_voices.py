"""Custom voices on the TTS service: consents and voices kept on the voices folder, XTTS cloning
through the real Coqui code on the tiny checkpoint, speech with the voices, and every refusal.

The tiny checkpoint samples greedily: the same text and voice always give the same audio, so
"another voice sounds different" and "the voice survived a restart" are exact comparisons.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.conformance.schemas import validate
from fixtures.servers import Server, run_service
from fixtures.speech import MORE_SENTENCES, SENTENCES, encode, espeak_file, silence_file, speech_file
from tests.gateway.helpers import assert_error
from tests.tts.helpers import decode, ffmpeg_errors, speak, speak_streamed

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


def create_consent(server: Server, name: str = "Jane Doe") -> dict[str, Any]:
    body = {"name": name, "language": "en-US", "verified": True}
    response = httpx.post(f"{server.url}/v1/audio/voice_consents", json=body, timeout=30)
    assert response.status_code == 200, response.text
    validate("VoiceConsentResource", response.json())
    return response.json()


def create_voice(server: Server, consent: str, sample: Path | bytes, name: str = "My voice") -> httpx.Response:
    data = sample.read_bytes() if isinstance(sample, Path) else sample
    files = {"audio_sample": ("sample.bin", data)}
    return httpx.post(
        f"{server.url}/v1/audio/voices", data={"name": name, "consent": consent}, files=files, timeout=180
    )


def pcm(server: Server, voice: Any, text: str = "Hello there.") -> bytes:
    response = speak(server, voice=voice, input=text, response_format="pcm", stream=False)
    assert response.status_code == 200, response.text
    return response.content


def custom_voices(server: Server) -> list[dict[str, Any]]:
    return httpx.get(f"{server.url}/v1/audio/voices", timeout=30).json()["custom"]


@pytest.fixture(scope="module")
def consent(coqui_server: Server) -> dict[str, Any]:
    return create_consent(coqui_server)


@pytest.fixture(scope="module")
def piper_voice(coqui_server: Server, consent: dict[str, Any]) -> dict[str, Any]:
    """A voice cloned from Piper reading two sentences (mp3)."""
    response = create_voice(coqui_server, consent["id"], speech_file(SENTENCES[:2], "mp3"), "Piper's voice")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def espeak_voice(coqui_server: Server, consent: dict[str, Any]) -> dict[str, Any]:
    """Another voice, from espeak-ng reading other sentences (ogg)."""
    response = create_voice(coqui_server, consent["id"], espeak_file(" ".join(MORE_SENTENCES[:2]), "ogg"), "espeak")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_voice_from_a_piper_sample(coqui_server: Server, piper_voice: dict[str, Any], voices_dir: Path) -> None:
    validate("VoiceResource", piper_voice)
    assert piper_voice["name"] == "Piper's voice" and piper_voice["id"].startswith("voice_")
    listed = httpx.get(f"{coqui_server.url}/v1/audio/voices", timeout=30).json()
    assert piper_voice in listed["custom"] and listed["cloning"] is True
    for voice in listed["custom"]:
        validate("VoiceResource", voice)
    # One file per voice and per consent, readable by the service only; nothing half-written.
    files = sorted(path.relative_to(voices_dir).as_posix() for path in voices_dir.rglob("*") if path.is_file())
    assert f"voices/{piper_voice['id']}.safetensors" in files
    assert not [name for name in files if ".tmp" in name]
    assert all(path.stat().st_mode & 0o077 == 0 for path in voices_dir.rglob("*") if path.is_file())


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("response_format", FORMATS)
def test_speech_with_a_custom_voice(
    coqui_server: Server, piper_voice: dict[str, Any], response_format: str, stream: bool
) -> None:
    voice = {"id": piper_voice["id"]}
    if stream:
        body = speak_streamed(coqui_server, input="Hi there.", voice=voice, response_format=response_format).body
    else:
        response = speak(coqui_server, input="Hi there.", voice=voice, response_format=response_format, stream=False)
        assert response.status_code == 200, response.text
        assert int(response.headers["content-length"]) == len(response.content)
        body = response.content
    if response_format == "pcm":
        assert len(body) > 4800 and len(body) % 2 == 0
        return
    assert ffmpeg_errors(body) == ""
    assert decode(body).seconds > 0.1


def test_the_id_as_a_plain_string_is_the_same_voice(coqui_server: Server, piper_voice: dict[str, Any]) -> None:
    assert pcm(coqui_server, piper_voice["id"]) == pcm(coqui_server, {"id": piper_voice["id"]})


def test_sse_events_with_a_custom_voice(coqui_server: Server, piper_voice: dict[str, Any]) -> None:
    response = speak(coqui_server, voice={"id": piper_voice["id"]}, stream_format="sse", response_format="pcm")
    assert response.status_code == 200, response.text
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[-1:]] == ["speech.audio.done"]
    for event in events[:-1]:
        validate("SpeechAudioDeltaEvent", event)


def test_speed_and_language_detection_with_a_custom_voice(coqui_server: Server, piper_voice: dict[str, Any]) -> None:
    voice = {"id": piper_voice["id"]}
    normal = pcm(coqui_server, voice)
    fast = speak(coqui_server, voice=voice, input="Hello there.", response_format="pcm", stream=False, speed=2.0)
    assert fast.status_code == 200 and len(fast.content) < 0.75 * len(normal)
    request_id = uuid.uuid4().hex
    german = speak(coqui_server, voice=voice, input="Guten Morgen, wie geht es dir heute?", request_id=request_id)
    assert german.status_code == 200, german.text
    line = coqui_server.wait_for_log(f"[{request_id}]", "speaking")
    assert f"as {piper_voice['id']} " in line and "language de (detected)" in line


def test_two_voices_from_different_samples_sound_different(
    coqui_server: Server, piper_voice: dict[str, Any], espeak_voice: dict[str, Any]
) -> None:
    first = pcm(coqui_server, {"id": piper_voice["id"]})
    assert pcm(coqui_server, {"id": piper_voice["id"]}) == first  # deterministic: a fair comparison
    assert pcm(coqui_server, {"id": espeak_voice["id"]}) != first
    assert pcm(coqui_server, "alloy") != first  # nor is it a built-in speaker


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        pytest.param({"id": "voice_0123456789abcdef01234567"}, "Unknown voice", id="unknown-id"),
        pytest.param("voice_nope", "Unknown voice", id="unknown-id-string"),
        pytest.param({"id": "../consents"}, "Unknown voice", id="path-like-id"),
        pytest.param({"id": 5}, "custom voice", id="id-not-a-string"),
        pytest.param({"id": "voice_1", "name": "x"}, "custom voice", id="extra-key"),
        pytest.param({}, "custom voice", id="empty-object"),
    ],
)
def test_speech_with_a_bad_custom_voice_is_400(coqui_server: Server, voice: Any, message: str) -> None:
    error = assert_error(speak(coqui_server, voice=voice), 400, "voice")
    assert message in error["message"]


@pytest.mark.parametrize(
    ("sample", "code", "words"),
    [
        pytest.param(lambda: speech_file("Hello.", "wav"), "audio_too_short", "s of speech", id="one-word"),
        pytest.param(lambda: silence_file(5.0, "flac"), "audio_too_short", "0.0 s of speech", id="silence"),
        pytest.param(lambda: silence_file(31.0, "flac"), "audio_too_long", "30 s", id="over-30-s"),
        pytest.param(lambda: b"definitely not audio" * 50, "invalid_audio", "could not be decoded", id="not-audio"),
        pytest.param(lambda: b"", "empty_file", "empty", id="empty"),
    ],
)
def test_bad_samples_are_400(
    coqui_server: Server, consent: dict[str, Any], voices_dir: Path, sample: Any, code: str, words: str
) -> None:
    before = custom_voices(coqui_server)
    error = assert_error(create_voice(coqui_server, consent["id"], sample()), 400, "audio_sample", code=code)
    assert words in error["message"]
    assert custom_voices(coqui_server) == before
    assert not [path for path in voices_dir.rglob("*") if ".tmp" in path.name]


def test_unknown_consent_is_400_before_the_model_is_asked(coqui_server: Server) -> None:
    sample = speech_file(SENTENCES[:2], "wav")
    for consent in ("cons_0123456789abcdef01234567", "cons_../../x", "nope"):
        error = assert_error(create_voice(coqui_server, consent, sample), 400, "consent", code="consent_not_found")
        assert "POST /v1/audio/voice_consents" in error["message"]


def test_consents_list_page_rename_and_delete(coqui_server: Server) -> None:
    url = f"{coqui_server.url}/v1/audio/voice_consents"
    made = [create_consent(coqui_server, f"Person {n}") for n in range(3)]

    first = httpx.get(url, params={"limit": 2}).json()
    validate("VoiceConsentListResource", first)
    assert [c["id"] for c in first["data"]] == [made[2]["id"], made[1]["id"]]  # newest first
    assert first["has_more"] is True and first["last_id"] == made[1]["id"]
    rest = httpx.get(url, params={"limit": 100, "after": first["last_id"]}).json()
    assert rest["data"][0]["id"] == made[0]["id"]
    assert rest["has_more"] is False and made[2]["id"] not in [c["id"] for c in rest["data"]]
    assert_error(httpx.get(url, params={"after": "cons_gone"}), 400, "after")
    assert_error(httpx.get(url, params={"limit": 101}), 400, "limit")

    renamed = httpx.post(f"{url}/{made[0]['id']}", json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json() == {**made[0], "name": "Renamed"}
    assert httpx.get(f"{url}/{made[0]['id']}").json()["name"] == "Renamed"
    deleted = httpx.delete(f"{url}/{made[0]['id']}")
    assert deleted.json() == {"id": made[0]["id"], "object": "audio.voice_consent", "deleted": True}
    validate("VoiceConsentDeletedResource", deleted.json())
    for response in (
        httpx.get(f"{url}/{made[0]['id']}"),
        httpx.post(f"{url}/{made[0]['id']}", json={"name": "x"}),
        httpx.delete(f"{url}/{made[0]['id']}"),
    ):
        assert_error(response, 404, code="not_found")


def test_withdrawn_consent_takes_its_voices(coqui_server: Server, piper_voice: dict[str, Any]) -> None:
    consent = create_consent(coqui_server, "Withdrawn")
    response = create_voice(coqui_server, consent["id"], speech_file(MORE_SENTENCES[2:], "flac"), "Soon gone")
    assert response.status_code == 200, response.text
    voice = response.json()

    deleted = httpx.delete(f"{coqui_server.url}/v1/audio/voice_consents/{consent['id']}")

    assert deleted.status_code == 200
    remaining = [v["id"] for v in custom_voices(coqui_server)]
    assert voice["id"] not in remaining and piper_voice["id"] in remaining  # only that consent's voices
    assert_error(speak(coqui_server, voice={"id": voice["id"]}), 400, "voice", code="voice_not_found")
    assert_error(create_voice(coqui_server, consent["id"], speech_file(SENTENCES[:2])), 400, "consent")


def test_deleting_a_voice(coqui_server: Server, consent: dict[str, Any]) -> None:
    response = create_voice(coqui_server, consent["id"], speech_file(MORE_SENTENCES[1:3], "m4a"), "Short-lived")
    voice_id = response.json()["id"]

    deleted = httpx.delete(f"{coqui_server.url}/v1/audio/voices/{voice_id}")

    assert deleted.json() == {"id": voice_id, "object": "audio.voice.deleted", "deleted": True}
    assert voice_id not in [v["id"] for v in custom_voices(coqui_server)]
    assert_error(httpx.delete(f"{coqui_server.url}/v1/audio/voices/{voice_id}"), 404, code="not_found")
    assert httpx.get(f"{coqui_server.url}/v1/audio/voice_consents/{consent['id']}").status_code == 200  # kept


@pytest.fixture
def restarted(coqui_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """A new TTS process on the same voices folder: what a restart (or a new image) finds."""
    with run_service("coqui_tts", coqui_env, tmp_dir=tmp_path) as server:
        yield server


def test_voices_and_consents_survive_a_restart(
    coqui_server: Server, consent: dict[str, Any], piper_voice: dict[str, Any], restarted: Server
) -> None:
    before = pcm(coqui_server, {"id": piper_voice["id"]})

    assert httpx.get(f"{restarted.url}/v1/audio/voice_consents/{consent['id']}").json() == consent
    assert piper_voice in custom_voices(restarted)
    assert pcm(restarted, {"id": piper_voice["id"]}) == before  # the very same conditioning


def test_piper_cannot_clone_and_says_what_can(
    piper_server: Server, consent: dict[str, Any], piper_voice: dict[str, Any]
) -> None:
    response = create_voice(piper_server, consent["id"], speech_file(SENTENCES[:2]))
    error = assert_error(response, 400, None, code="voice_cloning_unsupported")
    assert "TTS_ENGINE=coqui" in error["message"] and response.headers["x-should-retry"] == "false"

    # The voices XTTS made are listed (the volume is shared) but cannot be spoken with Piper.
    listed = httpx.get(f"{piper_server.url}/v1/audio/voices").json()
    assert piper_voice in listed["custom"] and listed["cloning"] is False and "TTS_ENGINE=coqui" in listed["note"]
    error = assert_error(
        speak(piper_server, voice={"id": piper_voice["id"]}), 400, None, code="voice_cloning_unsupported"
    )
    assert "TTS_ENGINE=coqui" in error["message"]


def test_a_voice_made_by_another_model_is_refused(
    coqui_server: Server, consent: dict[str, Any], voices_dir: Path
) -> None:
    """Conditioning from an XTTS of another size (XTTS v2's 1024 channels) cannot drive this one."""
    import numpy as np
    from safetensors.numpy import save

    voice_id = "voice_" + "ab" * 12
    arrays = {
        "gpt_cond_latent": np.zeros((1, 32, 1024), np.float32),
        "speaker_embedding": np.zeros((1, 512, 1), np.float32),
    }
    metadata = {"id": voice_id, "name": "v2", "created_at": "1", "consent": consent["id"], "model": "xtts_v2"}
    path = voices_dir / "voices" / f"{voice_id}.safetensors"
    path.write_bytes(save(arrays, metadata=metadata))
    try:
        error = assert_error(speak(coqui_server, voice=voice_id), 400, "voice", code="voice_incompatible")
        assert "create it again" in error["message"]
    finally:
        path.unlink()


def test_samples_in_other_containers(coqui_server: Server, consent: dict[str, Any], tmp_path: Path) -> None:
    """Any container the ASR service decodes: here webm (Opus), with a stereo-free mono encode."""
    from fixtures.speech import speech

    samples, rate = speech(tuple(SENTENCES[2:]))
    sample = encode(samples, rate, tmp_path / "sample.webm", "webm")
    response = create_voice(coqui_server, consent["id"], sample, "webm")
    assert response.status_code == 200, response.text
    httpx.delete(f"{coqui_server.url}/v1/audio/voices/{response.json()['id']}")
