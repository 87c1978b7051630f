"""Speech to text through the Wyoming server on the quick-start stack (tiny.en, Piper): the
``wyoming`` library's client sends real Piper speech as Home Assistant does, in the formats
clients send, and gets the words back; describe tells it what the stack serves."""

from __future__ import annotations

import httpx
import pytest
from wyoming.asr import Transcript, TranscriptChunk

from fixtures.realtime import utterance
from fixtures.speech import SENTENCE, SENTENCES
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from fixtures.wyoming_client import describe, pcm_of, transcribe

pytestmark = pytest.mark.anyio

MAX_WER = 0.15


@pytest.fixture(scope="module")
def port(embedded_stack: LocalStack) -> int:
    return embedded_stack.ports["wyoming"]


async def test_describe_lists_the_asr_model_and_every_voice(port: int, embedded_stack: LocalStack) -> None:
    info = await describe(port)
    (asr,) = info.asr
    assert asr.installed and asr.supports_transcript_streaming
    assert [model.name for model in asr.models] == ["whisper-1", "turbo"]
    assert all(model.languages == ["en"] and model.installed for model in asr.models)  # tiny.en: English only
    (tts,) = info.tts
    assert tts.installed and tts.supports_synthesize_streaming
    listing = httpx.get(f"{embedded_stack.url}/v1/audio/voices", timeout=30).json()
    names = [voice.name for voice in tts.voices]
    assert names == [*listing["builtin"], *listing["openai"]]  # Piper: its speaker, then the OpenAI names
    assert all(voice.installed and voice.languages == listing["languages"] == ["en"] for voice in tts.voices)
    alloy = next(voice for voice in tts.voices if voice.name == "alloy")
    assert alloy.description == f"alloy (OpenAI voice: {listing['openai']['alloy']})"


@pytest.mark.parametrize(
    ("rate", "channels", "language"),
    [(16000, 1, "en"), (48000, 2, "en-US")],
    ids=["16kHz-mono", "48kHz-stereo"],
)
async def test_transcribe(port: int, rate: int, channels: int, language: str) -> None:
    samples, source_rate = utterance(SENTENCES[0], before=0.5, after=0.7)
    events = await transcribe(port, pcm_of(samples, source_rate, rate, channels), rate=rate, channels=channels,
                                    language=language)  # fmt: skip
    kinds = [event.type for event in events]
    assert kinds[0] == "transcript-start" and kinds[-2:] == ["transcript", "transcript-stop"], kinds
    transcript = Transcript.from_event(events[-2])
    assert transcript.language == language
    assert word_error_rate(SENTENCES[0], transcript.text) <= MAX_WER, transcript.text


async def test_streamed_transcript_events_add_up_to_the_transcript(port: int) -> None:
    """Two sentences: chunks as the words come, which together say the transcript."""
    samples, rate = utterance([SENTENCE, SENTENCES[3]], before=0.3, after=0.7)
    events = await transcribe(port, pcm_of(samples, rate, 16000), chunk_ms=32)
    kinds = [event.type for event in events]
    assert kinds == ["transcript-start", *["transcript-chunk"] * (len(kinds) - 3), "transcript", "transcript-stop"]
    assert len(kinds) > 3, kinds
    streamed = "".join(TranscriptChunk.from_event(event).text for event in events[1:-2])
    transcript = Transcript.from_event(events[-2]).text
    assert streamed == transcript
    assert word_error_rate(f"{SENTENCE} {SENTENCES[3]}", transcript) <= MAX_WER, transcript


async def test_audio_stop_without_audio_is_an_empty_transcript(port: int) -> None:
    events = await transcribe(port, b"")
    assert [event.type for event in events] == ["transcript-start", "transcript", "transcript-stop"]
    assert Transcript.from_event(events[1]).text == ""
