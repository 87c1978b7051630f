"""Issue 9's acceptance test: the quick start (README command 1 with no settings) speaks and listens.

The stack runs with the launcher's embedded defaults: Piper joe-us for TTS and tiny.en for ASR.
What the TTS route says must come back from the transcription route, in every container a client
is likely to use.
"""

from __future__ import annotations

import pytest
from openai import OpenAI

from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from tests.e2e.checks import assert_audio

SAID = "Please send the final report to the office before Friday afternoon."


@pytest.fixture(scope="module")
def quick_client(embedded_stack: LocalStack) -> OpenAI:
    return embedded_stack.openai_client()


def test_launcher_says_which_models_run_and_how_to_switch(embedded_stack: LocalStack) -> None:
    models_line = next(line for line in embedded_stack.log().splitlines() if line.startswith("[run_local] models:"))
    assert "embedded" in models_line and "LOCAL_MODELS=full" in models_line


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("response_format", ["wav", "mp3", "opus"])
def test_speech_round_trip_gives_back_the_words(quick_client: OpenAI, response_format: str, stream: bool) -> None:
    audio = quick_client.audio.speech.create(
        model="tts-1", voice="alloy", input=SAID, response_format=response_format, extra_body={"stream": stream}
    ).content
    assert_audio(audio, response_format, min_seconds=2.0)
    heard = quick_client.audio.transcriptions.create(model="whisper-1", file=(f"speech.{response_format}", audio))
    assert word_error_rate(SAID, heard.text) <= 0.2, f"said {SAID!r}, heard {heard.text!r}"
