"""Failure paths through the real stack: a TTS backend that goes away and comes back.

docs/troubleshooting.md's 502 entry: while coqui-tts is not listening, speech gives
``502 The text-to-speech service did not answer (connection refused)``; once it is back, speech works again,
without restarting the gateway.
"""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from fixtures.stack import LocalStack
from tests.e2e.checks import assert_audio


def speak(client: OpenAI) -> bytes:
    return client.audio.speech.create(
        model="tts-1", voice="alloy", input="Are you there?", response_format="wav"
    ).content


def test_tts_down_gives_502_and_recovers_without_restarting_the_gateway(
    coqui_stack: LocalStack, client: OpenAI
) -> None:
    gateway = coqui_stack.process_on_port(coqui_stack.ports["gateway"])
    stopped = coqui_stack.stop_service("coqui-tts")
    try:
        with pytest.raises(openai.InternalServerError) as error:
            speak(client)
        message = error.value.body["message"]  # type: ignore[index]
        assert error.value.status_code == 502
        assert message.startswith("The text-to-speech service did not answer") and "connection refused" in message
        assert gateway.is_running(), "the gateway must outlive its backends"
        assert "[run_local] coqui-tts exited" in coqui_stack.log()  # the launcher tells the user
    finally:  # later tests share this stack: bring the TTS back whatever happened above
        coqui_stack.start_service(stopped)

    assert_audio(speak(client), "wav")
    assert coqui_stack.process_on_port(coqui_stack.ports["gateway"]).pid == gateway.pid
