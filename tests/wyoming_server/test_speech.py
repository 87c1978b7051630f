"""Text to speech through the Wyoming server: ``synthesize`` with a built-in voice (Piper, on the
quick-start stack) and with a custom voice (Coqui XTTS on the tiny checkpoint, which can clone), and
streaming input fed word by word as an LLM writes it. What is heard is checked by the stack's own
ASR (tiny.en) and, for XTTS, against the API's answer for the same request."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import httpx
import pytest
from openai import OpenAI
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from fixtures.speech import SENTENCES, espeak_file, speech_file
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from fixtures.wyoming_client import audio_of, connect, describe, read_until, synthesize
from gateway.consent import STATEMENTS

pytestmark = pytest.mark.anyio

MAX_WER = 0.2
WORD_SECONDS = 0.05  # an LLM writing 20 words a second


def heard(stack: LocalStack, pcm: bytes) -> str:
    """What the stack's ASR hears in 24 kHz s16le mono audio."""
    with io.BytesIO() as buffer:
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(24000)
            wav.writeframes(pcm)
        audio = buffer.getvalue()
    return stack.openai_client().audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio)).text


async def test_synthesize_with_a_built_in_voice(embedded_stack: LocalStack) -> None:
    port = embedded_stack.ports["wyoming"]
    for voice in (SynthesizeVoice(name="alloy"), SynthesizeVoice(name="joe"), None):
        events = await synthesize(port, SENTENCES[1], voice)
        kinds = [event.type for event in events]
        assert kinds[0] == "audio-start" and kinds[-1] == "audio-stop" and "audio-chunk" in kinds, kinds
        said = heard(embedded_stack, audio_of(events))
        assert word_error_rate(SENTENCES[1], said) <= MAX_WER, (voice, said)
    blank = await synthesize(port, "  ")  # nothing to say: still an answer that ends
    assert [event.type for event in blank] == ["audio-start", "audio-stop"]


async def test_streaming_synthesis_speaks_before_the_text_is_complete(embedded_stack: LocalStack) -> None:
    """Three sentences, one word at a time: the writer holds the last sentence back until audio has
    come (so the first sentence is heard while the text is incomplete, however busy the machine),
    the format never changes, and the sentences are heard in order."""
    text = " ".join(SENTENCES[:3])
    held_back = len(SENTENCES[2].split(" "))
    words = text.split(" ")
    voice = SynthesizeVoice(name="alloy")

    async def scenario() -> list[Event]:
        async with connect(embedded_stack.ports["wyoming"]) as client:
            heard_some = asyncio.Event()

            async def write() -> None:
                await client.write_event(SynthesizeStart(voice=voice).event())
                for index, word in enumerate(words):
                    if index == len(words) - held_back:
                        await asyncio.wait_for(heard_some.wait(), 120)  # no audio yet: the test fails here
                    await client.write_event(SynthesizeChunk(text=word if index == 0 else f" {word}").event())
                    await asyncio.sleep(WORD_SECONDS)
                await client.write_event(Synthesize(text=text, voice=voice).event())  # for older servers: ignored
                await client.write_event(SynthesizeStop().event())

            writer = asyncio.create_task(write())
            events = await read_until(client, ("audio-chunk", "error"))
            heard_some.set()
            events += await read_until(client, ("synthesize-stopped", "error"))
            await writer
            return events

    events = await scenario()
    kinds = [event.type for event in events]
    assert kinds[-1] == "synthesize-stopped" and "error" not in kinds, kinds
    assert kinds.count("audio-start") == kinds.count("audio-stop") >= 2, kinds  # spoken in pieces as text came
    said = heard(embedded_stack, audio_of(events))
    assert word_error_rate(text, said) <= MAX_WER, said  # in order, nothing twice


@pytest.fixture(scope="module")
def custom_voice(coqui_stack: LocalStack) -> dict[str, Any]:
    """A custom voice made through the API (consent read by espeak-ng, sample spoken by Piper)."""
    client: OpenAI = coqui_stack.openai_client()
    with espeak_file(STATEMENTS["en"], "wav").open("rb") as recording:
        consent = client.audio.voice_consents.create(name="Wyoming test", language="en-US", recording=recording)
    with speech_file(SENTENCES[:2], "mp3").open("rb") as sample:
        voice = client.audio.voices.create(name="Jane", audio_sample=sample, consent=consent.id)
    return {"id": voice.id, "name": voice.name}


async def test_a_custom_voice_is_described_and_speaks(coqui_stack: LocalStack, custom_voice: dict[str, Any]) -> None:
    """Made after the Wyoming server started, listed by the next describe, and spoken with: the
    audio is the API's own for the same request (XTTS on the tiny checkpoint: noise, the same noise)."""
    port = coqui_stack.ports["wyoming"]
    info = await describe(port)
    listed = {voice.name: voice for voice in info.tts[0].voices}
    assert listed[custom_voice["id"]].description == "Jane (custom voice)"
    assert listed[custom_voice["id"]].languages == listed["alloy"].languages and "de" in listed["alloy"].languages
    text = "Hello from my own voice."
    events = await synthesize(port, text, SynthesizeVoice(name=custom_voice["id"]))
    body = {"model": "tts-1", "voice": custom_voice["id"], "input": text, "response_format": "pcm"}
    expected = httpx.post(f"{coqui_stack.url}/v1/audio/speech", json=body, timeout=300)
    assert expected.status_code == 200
    assert audio_of(events) == expected.content and len(expected.content) > 0
