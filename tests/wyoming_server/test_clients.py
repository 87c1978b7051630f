"""Several Wyoming clients at once, each with its own transcription session or speech request
through the one stack: every one gets its own right answer."""

from __future__ import annotations

import asyncio

import pytest
from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.tts import SynthesizeVoice

from fixtures.realtime import utterance
from fixtures.speech import SENTENCES
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from fixtures.wyoming_client import audio_of, pcm_of, synthesize, transcribe

pytestmark = pytest.mark.anyio


async def test_several_clients_at_once(embedded_stack: LocalStack) -> None:
    port = embedded_stack.ports["wyoming"]
    clips = [pcm_of(*utterance(text, before=0.3, after=0.7), 16000) for text in SENTENCES[:3]]

    spoken = {"alloy": SENTENCES[2], "echo": SENTENCES[3]}

    async def together() -> list[list[Event]]:
        return await asyncio.gather(
            *(transcribe(port, clip) for clip in clips),
            *(synthesize(port, text, SynthesizeVoice(name=voice)) for voice, text in spoken.items()),
        )

    results = await together()
    for text, events in zip(SENTENCES[:3], results[:3], strict=True):
        assert events[-1].type == "transcript-stop", [event.type for event in events]
        said = Transcript.from_event(events[-2]).text
        assert word_error_rate(text, said) <= 0.15, (text, said)
    for events in results[3:]:
        assert len(audio_of(events)) > 24000 * 2  # over a second of speech each
