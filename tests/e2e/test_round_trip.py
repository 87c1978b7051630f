"""Speech out of the TTS route fed back into the transcription route, through the whole stack.

With the tiny random XTTS checkpoint the speech is noise, so this checks that every link works and
that the ASR decodes exactly the audio the TTS produced (same duration), not what is heard. Real
words are checked with espeak-ng speech here and with the Piper quick start in test_quick_start.py.
"""

from __future__ import annotations

import pytest
from openai import OpenAI

from fixtures.speech import SENTENCE, speech_file
from fixtures.wer import word_error_rate
from tests.e2e.checks import assert_audio


@pytest.mark.parametrize("response_format", ["wav", "mp3", "opus", "flac", "aac"])
def test_tts_output_transcribes_to_a_well_formed_response(client: OpenAI, response_format: str) -> None:
    audio = client.audio.speech.create(
        model="tts-1", voice="nova", input="One small step for a test suite.", response_format=response_format
    ).content
    played = assert_audio(audio, response_format)
    result = client.audio.transcriptions.create(
        model="whisper-1", file=(f"speech.{response_format}", audio), response_format="verbose_json"
    )
    assert isinstance(result.text, str)
    assert result.language == "english"
    assert result.duration == pytest.approx(played.seconds, abs=0.1)
    assert all(0 <= s.start <= s.end <= result.duration + 0.1 for s in result.segments or [])


def test_espeak_speech_transcribes_to_the_words(client: OpenAI) -> None:
    with speech_file(SENTENCE, "wav", engine="espeak").open("rb") as file:
        text = client.audio.transcriptions.create(model="turbo", file=file, language="en").text
    assert word_error_rate(SENTENCE, text) <= 0.2, text
