"""Live transcription through the gateway with the official OpenAI SDK's realtime client, on the quick
start (README command 1: gateway, ASR on tiny.en, Piper TTS).

The client streams real Piper speech at real-time pace, 100 ms a message, with silence around it,
as a microphone would: the words must start arriving while the person is still speaking, and the
turn must end with the whole transcript. Every event is checked against OpenAI's schema.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from fixtures.conformance.schemas import validate
from fixtures.realtime import append, pcm16, sdk_event, utterance
from fixtures.speech import SENTENCE, SENTENCES
from fixtures.stack import LocalStack
from fixtures.waiting import wait_until
from fixtures.wer import word_error_rate

pytestmark = pytest.mark.anyio

BEFORE, AFTER = 1.0, 1.5
CHUNK = 4800  # 100 ms of 24 kHz 16-bit audio
# One turn of ~8.8 s: Piper pauses less than the 500 ms of silence that ends a turn between sentences.
UTTERANCE = " ".join(SENTENCES[:3])


async def test_words_arrive_while_the_speaker_is_still_speaking(embedded_stack: LocalStack) -> None:
    samples, rate = utterance(UTTERANCE, before=BEFORE, after=AFTER)
    audio = pcm16(samples, rate)
    speech_seconds = len(samples) / rate - BEFORE - AFTER
    asr_health = f"{embedded_stack.service_url('asr')}/healthz"
    client = AsyncOpenAI(base_url=f"{embedded_stack.url}/v1", api_key="any-key", max_retries=0)
    events: list[tuple[float, dict[str, Any]]] = []
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:

        async def receive() -> dict[str, Any]:
            event = await sdk_event(connection)
            events.append((time.monotonic(), event))
            return event

        assert (await receive())["type"] == "session.created"
        session = {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        await connection.session.update(session=session)
        assert (await receive())["type"] == "session.updated"
        # The session loads the model when it opens, and a model's first inference is slow
        # (buffers, kernels): a first turn, sent at once, gets both out of the way. This test
        # is about the turns after it.
        await asyncio.to_thread(wait_until, lambda: httpx.get(asr_health).json()["model"] == "ready", 120)
        warm_up, warm_rate = utterance(SENTENCE, before=0.2, after=0.8)
        await connection.input_audio_buffer.append(audio=append(pcm16(warm_up, warm_rate))["audio"])
        while (await receive())["type"] != "conversation.item.input_audio_transcription.completed":
            pass
        events.clear()

        started = time.monotonic()

        async def microphone() -> None:
            for index, offset in enumerate(range(0, len(audio), CHUNK)):
                await connection.input_audio_buffer.append(audio=append(audio[offset : offset + CHUNK])["audio"])
                # A speaker's pace, which is what is tested: the next 100 ms once they are spoken.
                await asyncio.sleep(max(0.0, started + (index + 1) * 0.1 - time.monotonic()))

        sending = asyncio.create_task(microphone())
        while (await receive())["type"] != "conversation.item.input_audio_transcription.completed":
            pass
        await sending
    speech_ended = started + BEFORE + speech_seconds
    kinds = [event["type"] for _, event in events]
    assert "error" not in kinds and "conversation.item.input_audio_transcription.failed" not in kinds, kinds
    deltas = [(at, event) for at, event in events if event["type"].endswith(".delta")]
    stopped_at = next(at for at, event in events if event["type"] == "input_audio_buffer.speech_stopped")
    completed = events[-1][1]
    assert deltas, kinds
    assert deltas[0][0] < speech_ended < stopped_at, (
        f"first delta {deltas[0][0] - speech_ended:+.2f} s from the end of speech: {deltas[0][1]['delta']!r}"
    )
    assert "".join(event["delta"] for _, event in deltas) == completed["transcript"]
    assert word_error_rate(UTTERANCE, completed["transcript"]) <= 0.15, completed["transcript"]


async def test_a_client_secret_from_the_sdk_opens_a_session_with_its_configuration(embedded_stack: LocalStack) -> None:
    """What a browser app does: its server mints an ``ek_`` secret with the SDK
    (``client.realtime.client_secrets.create``) for a session configuration, and the page opens the
    realtime WebSocket with that secret as its key. The session starts in the configuration the
    secret carries (manual turns, the keyword), with no session.update, and transcribes. (That a
    secret opens nothing else is checked where API keys are set: tests/gateway/test_client_secrets.py.)"""
    server = AsyncOpenAI(base_url=f"{embedded_stack.url}/v1", api_key="any-key", max_retries=0)
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1", "language": "en", "keywords": ["Zorblax"]},
                "turn_detection": None,
            }
        },
    }
    secret = await server.realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 60},
                                                          session=session)  # fmt: skip
    validate("RealtimeCreateClientSecretResponse", secret.model_dump(mode="json", exclude_unset=True))
    assert secret.value.startswith("ek_")
    assert 50 <= secret.expires_at - time.time() <= 61

    page = AsyncOpenAI(base_url=f"{embedded_stack.url}/v1", api_key=secret.value, max_retries=0)
    made_up = "Please send the final report to Zorblax before Friday."
    samples, rate = utterance(made_up, before=0.3, after=0.3)
    async with page.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        created = await sdk_event(connection)
        assert created["type"] == "session.created", created
        configured = created["session"]["audio"]["input"]
        assert configured["turn_detection"] is None
        assert configured["transcription"]["keywords"] == ["Zorblax"]
        await connection.input_audio_buffer.append(audio=append(pcm16(samples, rate))["audio"])
        await connection.input_audio_buffer.commit()
        while (event := await sdk_event(connection))["type"] != "conversation.item.input_audio_transcription.completed":
            assert event["type"] not in ("error", "conversation.item.input_audio_transcription.failed"), event
    assert word_error_rate(made_up, event["transcript"]) <= 0.2, event["transcript"]
    assert "Zorblax" in event["transcript"]
