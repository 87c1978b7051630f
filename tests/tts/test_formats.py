"""Every response_format, whole and streamed, on both engines: what a client receives decodes."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import uuid
import wave

import httpx
import pytest

from common.api_types import SPEECH_CONTENT_TYPES, SPEECH_FORMATS
from fixtures.conformance.schemas import validate
from fixtures.servers import Server
from tests.tts.helpers import (
    DECODED_RATE,
    PCM_RATE,
    decode,
    ffmpeg_errors,
    pcm_seconds,
    speak,
    speak_streamed,
)

SENTENCE = "Hello there."
EIGHT_SENTENCES = " ".join(f"This is sentence {n}." for n in range(1, 9))


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_whole_response_decodes(engine_server: Server, response_format: str) -> None:
    response = speak(engine_server, input=SENTENCE, response_format=response_format, stream=False)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == SPEECH_CONTENT_TYPES[response_format]
    assert int(response.headers["content-length"]) == len(response.content)
    if response_format == "pcm":
        assert pcm_seconds(response.content) > 0.05
        return
    audio = decode(response.content)
    assert (audio.rate, audio.channels) == (DECODED_RATE.get(response_format, PCM_RATE), 1)
    assert audio.seconds > 0.05
    assert ffmpeg_errors(response.content) == ""


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_streamed_response_decodes(engine_server: Server, response_format: str) -> None:
    streamed = speak_streamed(engine_server, input=SENTENCE, response_format=response_format)

    assert streamed.headers["content-type"] == SPEECH_CONTENT_TYPES[response_format]
    assert "content-length" not in streamed.headers
    assert len(streamed.chunks) >= 2, "audio arrives in several pieces"
    if response_format == "pcm":
        assert pcm_seconds(streamed.body) > 0.1
        return
    if response_format == "wav":  # a header valid for streaming: length unknown
        assert streamed.body[:4] == b"RIFF" and struct.unpack("<I", streamed.body[40:44])[0] == 0xFFFFFFFF
        # ... which Python's own wave module reads too (PyAV and ffmpeg below).
        with wave.open(io.BytesIO(streamed.body)) as reader:
            assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (PCM_RATE, 1, 2)
            frames = reader.readframes(reader.getnframes())
        assert len(frames) == len(streamed.body) - 44
    assert ffmpeg_errors(streamed.body) == ""
    audio = decode(streamed.body)
    assert (audio.rate, audio.channels) == (DECODED_RATE.get(response_format, PCM_RATE), 1)
    assert audio.seconds > 0.1


def test_first_bytes_leave_before_synthesis_ends(engine_server: Server) -> None:
    """The first audio arrives while later sentences are not synthesized yet: leaving right after
    it stops synthesis part-way (wall-clock ratios are too noisy on a shared CPU to assert)."""
    request_id = uuid.uuid4().hex
    body = {"model": "tts-1", "voice": "alloy", "input": EIGHT_SENTENCES, "response_format": "pcm"}  # streams
    url = f"{engine_server.url}/v1/audio/speech"
    with httpx.stream("POST", url, json=body, headers={"x-request-id": request_id}, timeout=120) as response:
        assert response.status_code == 200
        assert next(response.iter_raw())

    line = engine_server.wait_for_log(f"[{request_id}]", "synthesis stopped after", timeout=30)
    done, total = map(int, re.search(r"after (\d+) of (\d+) sentence", line).groups())
    assert total == 8 and done < total, line


def test_streamed_pcm_matches_whole_pcm_length(coqui_server: Server) -> None:
    """The tiny XTTS model always speaks the same number of audio tokens per sentence."""
    whole = speak(coqui_server, input=SENTENCE, response_format="pcm", stream=False)
    streamed = speak_streamed(coqui_server, input=SENTENCE, response_format="pcm")

    assert pcm_seconds(streamed.body) == pytest.approx(pcm_seconds(whole.content), rel=0.05)


def test_duration_scales_with_input(engine_server: Server) -> None:
    sentence = "The cat sat on the mat. "
    one = pcm_seconds(speak(engine_server, input=sentence, response_format="pcm").content)
    three = pcm_seconds(speak(engine_server, input=sentence * 3, response_format="pcm").content)

    assert 2.4 < three / one < 3.6, (one, three)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_changes_duration(engine_server: Server, speed: float) -> None:
    text = "The cat sat on the mat."
    normal = pcm_seconds(speak(engine_server, input=text, response_format="pcm").content)
    changed = pcm_seconds(speak(engine_server, input=text, response_format="pcm", speed=speed).content)

    assert changed / normal == pytest.approx(1 / speed, rel=0.2), (normal, changed)


@pytest.mark.parametrize("response_format", ["pcm", "mp3"])
def test_sse_events_carry_the_audio(engine_server: Server, response_format: str) -> None:
    """stream_format=sse: speech.audio.delta events with base64 audio in response_format, as it is
    made, then speech.audio.done with usage (OpenAI's event schemas)."""
    body = {"model": "tts-1", "voice": "alloy", "input": EIGHT_SENTENCES, "response_format": response_format}
    with httpx.stream(
        "POST", f"{engine_server.url}/v1/audio/speech", json={**body, "stream_format": "sse"}, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]

    *deltas, done = events
    assert len(deltas) >= 2 and all(event["type"] == "speech.audio.delta" for event in deltas)
    for event in deltas:
        validate("SpeechAudioDeltaEvent", event)
    validate("SpeechAudioDoneEvent", done)
    assert done["usage"]["input_tokens"] == len(EIGHT_SENTENCES)
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    if response_format == "pcm":
        assert pcm_seconds(audio) > 1.0
    else:
        assert ffmpeg_errors(audio) == "" and decode(audio).seconds > 1.0
