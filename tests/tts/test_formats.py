"""Every response_format, whole and streamed, on both engines: what a client receives decodes."""

from __future__ import annotations

import struct

import pytest

from common.api_types import SPEECH_CONTENT_TYPES, SPEECH_FORMATS
from tests.servers import Server
from tests.tts.helpers import DECODED_RATE, PCM_RATE, decode, ffmpeg_errors, pcm_seconds, speak, speak_streamed

SENTENCE = "Hello there."
THREE_SENTENCES = "The first sentence. The second sentence. The third sentence."


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_whole_response_decodes(engine_server: Server, response_format: str) -> None:
    response = speak(engine_server, input=SENTENCE, response_format=response_format)

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
    assert ffmpeg_errors(streamed.body) == ""
    audio = decode(streamed.body)
    assert (audio.rate, audio.channels) == (DECODED_RATE.get(response_format, PCM_RATE), 1)
    assert audio.seconds > 0.1


def test_first_bytes_leave_before_synthesis_ends(engine_server: Server) -> None:
    streamed = speak_streamed(engine_server, input=THREE_SENTENCES, response_format="pcm")

    # Sentences are synthesized one after another: the first audio must not wait for the last.
    assert streamed.first_at < 0.6 * streamed.total, (streamed.first_at, streamed.total)
    assert len(streamed.chunks) >= 3
    assert pcm_seconds(streamed.body) > 0.3


def test_streamed_pcm_matches_whole_pcm_length(coqui_server: Server) -> None:
    """The tiny XTTS model always speaks the same number of audio tokens per sentence."""
    whole = speak(coqui_server, input=SENTENCE, response_format="pcm")
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
