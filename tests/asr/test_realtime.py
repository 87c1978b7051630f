"""Realtime transcription sessions on the ASR service (WebSocket /v1/realtime): real tiny.en, real
Silero VAD, real Piper speech, driven by the official OpenAI SDK's realtime client and by a plain
``websockets`` client. Every server event is checked against OpenAI's published schema.

Audio is sent as fast as the socket takes it (the VAD works on audio time, not wall time); the
timing of deltas while someone speaks is tested at real-time pace end to end
(tests/e2e/test_realtime.py). The server here unloads its model when idle (MODEL_TTL_SECONDS=0)
and allows two sessions and 6 s turns, so those limits are cheap to reach.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed

from fixtures.realtime import RealtimeClient, SdkEvents, append, g711, pcm16, utterance
from fixtures.servers import Server, run_service, wait_model_state
from fixtures.speech import SENTENCE, SENTENCES, Engine, speech, speech_file
from fixtures.waiting import wait_until
from fixtures.wer import word_error_rate
from tests.asr.conftest import RT_MAX_AUDIO_SECONDS, asr_env, transcribe
from tests.asr.test_transcription import MAX_WER
from tests.metrics import added, scrape

pytestmark = pytest.mark.anyio

MAX_AUDIO_SECONDS = RT_MAX_AUDIO_SECONDS
MANUAL = {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}}}


def ws_url(server: Server, query: str = "intent=transcription") -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime" + (f"?{query}" if query else "")


def health(server: Server) -> dict[str, Any]:
    return httpx.get(f"{server.url}/healthz").json()


def wait_sessions(server: Server, count: int, timeout: float = 30) -> None:
    wait_until(lambda: health(server)["realtime_sessions"] == count, timeout, f"{count} open realtime session(s)")


async def completed_turns(client: RealtimeClient, count: int) -> list[dict[str, Any]]:
    turns = []
    while len(turns) < count:
        event = await client.recv(120)
        assert event["type"] not in ("error", "conversation.item.input_audio_transcription.failed"), event
        if event["type"] == "conversation.item.input_audio_transcription.completed":
            turns.append(event)
    return turns


def deltas_of(events: list[dict[str, Any]], item_id: str) -> str:
    kind = "conversation.item.input_audio_transcription.delta"
    return "".join(e["delta"] for e in events if e["type"] == kind and e["item_id"] == item_id)


async def commit_and_check(client: RealtimeClient, said: str) -> None:
    """Commit the buffer: one item, transcribed as ``said``, whose deltas say its transcript."""
    await client.send({"type": "input_audio_buffer.commit"})
    committed = await client.next("input_audio_buffer.committed")
    completed = (await completed_turns(client, 1))[0]
    assert completed["item_id"] == committed["item_id"]
    assert word_error_rate(said, completed["transcript"]) <= MAX_WER, completed["transcript"]
    assert deltas_of(client.received, committed["item_id"]) == completed["transcript"]


async def test_sdk_client_two_turns_with_server_vad(rt: Server) -> None:
    """The official SDK's realtime client: configure, stream two sentences with a pause, get two
    items, each speech_started -> speech_stopped -> committed -> deltas -> completed."""
    samples, rate = utterance(SENTENCES[0], before=1.0, after=1.2)
    second, _ = utterance(SENTENCES[1], before=0, after=1.5)
    audio = pcm16(np.concatenate([samples, second]), rate)
    before = scrape(rt.url)
    client = AsyncOpenAI(base_url=f"{rt.url}/v1", api_key="not-checked-by-the-asr-service", max_retries=0)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        receive = SdkEvents(connection)

        assert (await receive())["type"] == "session.created"
        await connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                    }
                },
            }
        )
        updated = await receive()
        assert updated["type"] == "session.updated", updated
        vad = updated["session"]["audio"]["input"]["turn_detection"]
        assert vad == {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 600}
        for start in range(0, len(audio), 9600):  # 200 ms a message
            await connection.input_audio_buffer.append(audio=append(audio[start : start + 9600])["audio"])
        done = 0
        while done < 2:
            done += (await receive())["type"] == "conversation.item.input_audio_transcription.completed"
    events = receive.events
    kinds = [e["type"] for e in events if e["type"] != "conversation.item.input_audio_transcription.delta"]
    assert "error" not in kinds and "conversation.item.input_audio_transcription.failed" not in kinds, events
    # Each finished turn's audio counts as transcribed once (however many passes ran while it was spoken).
    usage = sum(e["usage"]["seconds"] for e in events if e["type"].endswith("transcription.completed"))
    transcribed = added(before, scrape(rt.url), "speech_audio_seconds_total", service="asr", direction="transcribed")
    assert abs(transcribed - usage) < 0.01
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    assert len(started) == 2, kinds
    previous = None
    for sentence, start in zip(SENTENCES[:2], started, strict=True):
        item = start["item_id"]
        mine = [e for e in events if e.get("item_id") == item]
        order = [e["type"] for e in mine if e["type"] != "conversation.item.input_audio_transcription.delta"]
        assert order == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.completed",
        ], order
        by_type = {e["type"]: e for e in mine}
        stopped = by_type["input_audio_buffer.speech_stopped"]
        committed = by_type["input_audio_buffer.committed"]
        completed = by_type["conversation.item.input_audio_transcription.completed"]
        assert committed["previous_item_id"] == previous
        previous = item
        assert word_error_rate(sentence, completed["transcript"]) <= MAX_WER, completed["transcript"]
        assert deltas_of(events, item) == completed["transcript"]  # never taken back, nothing missing
        seconds = (stopped["audio_end_ms"] - start["audio_start_ms"]) / 1000
        assert completed["usage"]["type"] == "duration" and abs(completed["usage"]["seconds"] - seconds) < 0.05
    # the first speech begins 1.0 s in; the turn's audio starts prefix_padding_ms (300) earlier
    assert 500 <= started[0]["audio_start_ms"] <= 900, started[0]


async def test_manual_commit_clear_and_the_session_config(rt: Server) -> None:
    samples, rate = utterance(SENTENCE, before=0.3, after=0.3)
    audio = pcm16(samples, rate)
    async with RealtimeClient(ws_url(rt)) as client:
        created = await client.next("session.created")
        assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"  # OpenAI's default
        await client.send(MANUAL)
        updated = (await client.next("session.updated"))["session"]
        assert updated["audio"]["input"]["turn_detection"] is None
        assert updated["audio"]["input"]["transcription"] == {"model": "whisper-1"}  # the rest unchanged
        assert updated["id"] == created["session"]["id"]

        await client.stream(audio[: len(audio) // 2])
        await client.send({"type": "input_audio_buffer.clear"})
        await client.next("input_audio_buffer.cleared")
        await client.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit_1"})
        error = (await client.next("error"))["error"]
        assert error["code"] == "input_audio_buffer_commit_empty" and error["event_id"] == "evt_commit_1"

        await client.stream(audio)
        await commit_and_check(client, SENTENCE)
        assert not [e for e in client.received if e["type"].startswith("input_audio_buffer.speech")]


def passes(server: Server, session_id: str) -> list[float]:
    """Seconds of audio of each transcription pass the session's worker ran (its debug log lines)."""
    pattern = rf"realtime session {session_id}: ([0-9.]+) s of audio transcribed"
    return [float(seconds) for seconds in re.findall(pattern, server.log())]


async def test_a_commit_in_the_silence_after_speech_reuses_the_pass_made_in_that_silence(rt: Server) -> None:
    """Server VAD on, the client commits itself (as a client with a VAD of its own does): the pass
    the silence after the speech started is the transcript, and no pass runs after the commit."""
    samples, rate = utterance(SENTENCE, before=0.3, after=0.8)
    audio = pcm16(samples, rate)
    speech_ends = (len(samples) / rate) - 0.8
    async with RealtimeClient(ws_url(rt)) as client:
        session_id = (await client.next("session.created"))["session"]["id"]
        vad = {"type": "server_vad", "silence_duration_ms": 2000}  # the 0.8 s of silence do not end the turn
        session = {"type": "transcription", "audio": {"input": {"turn_detection": vad}}}
        await client.send({"type": "session.update", "session": session})
        await client.next("session.updated")
        await client.stream(audio)
        await client.next("input_audio_buffer.speech_started")

        # the pass over the speech and the start of the silence (the worker logs it once done)
        def passed() -> bool:
            return any(seconds >= speech_ends for seconds in passes(rt, session_id))

        await asyncio.to_thread(wait_until, passed, 120, "a pass over the speech and the start of the silence")
        before = passes(rt, session_id)
        await commit_and_check(client, SENTENCE)
        assert passes(rt, session_id) == before  # no pass after the commit
        kinds = [e["type"] for e in client.received]
        assert "input_audio_buffer.speech_stopped" not in kinds, kinds  # the client ended the turn, not VAD


@pytest.mark.parametrize(
    ("fmt", "engine", "sentence", "max_wer"),
    [
        ("audio/pcmu", "piper", SENTENCES[1], MAX_WER),
        # espeak-ng's robotic voice through an 8 kHz telephone codec: tiny.en slips on a word or two
        ("audio/pcma", "espeak", SENTENCES[3], 0.25),
    ],
)
async def test_g711_input(rt: Server, fmt: str, engine: Engine, sentence: str, max_wer: float) -> None:
    samples, rate = speech(sentence, engine)
    pad = np.zeros(int(0.3 * rate), np.float32)
    audio = g711(np.concatenate([pad, samples, pad]), rate, fmt)
    async with RealtimeClient(ws_url(rt)) as client:
        session = {"type": "transcription", "audio": {"input": {"format": {"type": fmt}, "turn_detection": None}}}
        await client.send({"type": "session.update", "session": session})
        assert (await client.next("session.updated"))["session"]["audio"]["input"]["format"] == {"type": fmt}
        await client.stream(audio, bytes_per_ms=8)
        await client.send({"type": "input_audio_buffer.commit"})
        transcript = (await completed_turns(client, 1))[0]["transcript"]
    assert word_error_rate(sentence, transcript) <= max_wer, transcript


async def test_beta_client_gets_the_beta_shapes(rt: Server) -> None:
    """A beta client (OpenAI-Beta: realtime=v1) configures with transcription_session.update."""
    async with RealtimeClient(ws_url(rt), headers={"OpenAI-Beta": "realtime=v1"}) as client:
        created = (await client.next("transcription_session.created"))["session"]
        assert created["input_audio_format"] == "pcm16"
        update = {
            "type": "transcription_session.update",
            "session": {
                "input_audio_format": "g711_ulaw",
                "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": "Fox, dog."},
                "turn_detection": {"type": "server_vad", "threshold": 0.6},
                "input_audio_noise_reduction": {"type": "near_field"},
                "include": ["item.input_audio_transcription.logprobs"],
            },
        }
        await client.send(update)
        session = (await client.next("transcription_session.updated"))["session"]
        assert session["input_audio_format"] == "g711_ulaw"
        assert session["input_audio_transcription"] == {
            "model": "whisper-1",
            "language": "en",
            "prompt": "Fox, dog.",
        }
        assert session["turn_detection"] == {
            "type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300, "silence_duration_ms": 500,
        }  # fmt: skip
        await client.send({"type": "transcription_session.update", "session": {"turn_detection": None}})
        assert (await client.next("transcription_session.updated"))["session"]["turn_detection"] is None


BAD_EVENTS: list[tuple[str | bytes, str, str | None]] = [
    ("not json", "invalid_json", None),
    (b"\x00binary", "invalid_json", None),
    ('{"type": "response.create", "event_id": "e1"}', "invalid_value", "type"),
    ('{"type": "input_audio_buffer.append", "audio": "@@not base64@@"}', "invalid_value", "audio"),
    ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
    (
        '{"type": "session.update", "session": {"type": "transcription", "tools": []}}',
        "unknown_parameter", "session.tools",
    ),
    ('{"type": "session.update", "session": {"type": "realtime"}}', "invalid_value", "session.type"),
    ('{"type": "session.update", "session": {"audio": {}}}', "missing_required_parameter", "session.type"),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"turn_detection": {"type": "semantic_vad"}}}}}',
        "invalid_value", "session.audio.input.turn_detection.type",
    ),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"turn_detection": {"type": "server_vad", "threshold": 2}}}}}',
        "invalid_value", "session.audio.input.turn_detection.threshold",
    ),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"format": {"type": "audio/pcm", "rate": 16000}}}}}',
        "invalid_value", "session.audio.input.format.rate",
    ),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"format": {"type": "audio/wav"}}}}}',
        "invalid_value", "session.audio.input.format.type",
    ),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"transcription": {"model": "gpt-4o-transcribe"}}}}}',
        "model_not_found", "session.audio.input.transcription.model",
    ),
    (
        '{"type": "session.update", "session": {"type": "transcription", "audio": {"input": '
        '{"transcription": {"language": "xx"}}}}}',
        "unsupported_language", "session.audio.input.transcription.language",
    ),
    ('{"type": "transcription_session.update", "session": {"input_audio_format": "opus"}}', "invalid_value",
     "session.input_audio_format"),
    ('{"type": "input_audio_buffer.commit"}', "input_audio_buffer_commit_empty", None),
]  # fmt: skip


async def test_bad_input_gets_an_error_event_and_the_session_goes_on(rt: Server) -> None:
    async with RealtimeClient(ws_url(rt)) as client:
        default = (await client.next("session.created"))["session"]
        for message, code, param in BAD_EVENTS:
            await client.ws.send(message)
            event = await client.recv()
            assert event["type"] == "error", (message, event)
            error = event["error"]
            assert (error["code"], error["param"]) == (code, param), (message, error)
            assert error["type"] == "invalid_request_error" and error["message"]
            if isinstance(message, str) and '"event_id": "e1"' in message:
                assert error["event_id"] == "e1"
        # nothing was changed by the refused updates, and the session still answers
        await client.send({"type": "session.update", "session": {"type": "transcription"}})
        assert (await client.next("session.updated"))["session"]["audio"] == default["audio"]


async def test_a_turn_past_max_audio_seconds(rt: Server) -> None:
    """Manual commits: an append that would take the buffer past MAX_AUDIO_SECONDS is refused and
    the buffer kept. Server VAD: someone speaking that long has the turn committed at the limit."""
    two, rate = utterance(SENTENCES[:2], before=0.5, after=2.5)  # ~7 s of speech, one short pause
    assert len(two) / rate - 3 > MAX_AUDIO_SECONDS
    speech = pcm16(two, rate)
    async with RealtimeClient(ws_url(rt)) as client:
        await client.send(MANUAL)
        await client.next("session.updated")
        await client.stream(speech[: 48 * 2000])  # 2 s
        await client.send(append(speech[48 * 2000 : 48 * 7000]))  # 5 s more: 7 s > 6 s
        error = (await client.next("error"))["error"]
        assert (error["code"], error["param"]) == ("audio_too_long", "audio")
        assert "MAX_AUDIO_SECONDS" in error["message"]
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.next("input_audio_buffer.committed")
        completed = (await completed_turns(client, 1))[0]
        assert completed["item_id"] == committed["item_id"]
        assert completed["usage"]["seconds"] == pytest.approx(2, abs=0.05)

        vad = {"type": "server_vad", "silence_duration_ms": 2000}  # the pause between sentences does not end it
        session = {"type": "transcription", "audio": {"input": {"turn_detection": vad}}}
        await client.send({"type": "session.update", "session": session})
        await client.next("session.updated")
        await client.stream(speech, chunk_ms=500)
        cut = await client.next("error")
        assert cut["error"]["code"] == "audio_too_long" and "committed" in cut["error"]["message"]
        turns = await completed_turns(client, 2)
        assert turns[0]["usage"]["seconds"] == pytest.approx(MAX_AUDIO_SECONDS, abs=0.6)
        heard = " ".join(turn["transcript"] for turn in turns)
        assert word_error_rate(" ".join(SENTENCES[:2]), heard) <= 0.25, heard  # a word may be cut at the limit


async def test_sessions_are_bounded_and_keep_the_model_loaded(rt: Server) -> None:
    """MAX_REALTIME_SESSIONS=2: a third gets an error event and close code 1013. With MODEL_TTL_SECONDS=0
    the model is loaded when a session opens, stays loaded while any is open, and goes when none is."""
    async with RealtimeClient(ws_url(rt)) as first, RealtimeClient(ws_url(rt)) as second:
        await first.next("session.created")
        await second.next("session.created")
        async with RealtimeClient(ws_url(rt)) as third:
            refused = await third.recv()
            assert refused["type"] == "error" and refused["error"]["code"] == "session_limit_reached"
            assert "MAX_REALTIME_SESSIONS" in refused["error"]["message"]
            with pytest.raises(ConnectionClosed):
                await third.recv(10)
            assert third.ws.close_code == 1013
        await asyncio.to_thread(wait_model_state, rt, "ready", 60)
        await asyncio.sleep(1.0)  # a second between turns, with nothing to transcribe: what is tested
        assert health(rt)["model"] == "ready"
        assert health(rt)["realtime_sessions"] == 2
        assert scrape(rt.url).value("speech_realtime_sessions", service="asr") == 2
    await asyncio.to_thread(wait_sessions, rt, 0)
    assert scrape(rt.url).value("speech_realtime_sessions", service="asr") == 0
    await asyncio.to_thread(wait_model_state, rt, "not_loaded", 30)
    async with RealtimeClient(ws_url(rt)) as again:  # a slot is free again
        await again.next("session.created")


async def test_a_client_that_vanishes_mid_turn_frees_everything(rt: Server) -> None:
    samples, rate = utterance(SENTENCES[0], before=0.2, after=0.2)
    async with RealtimeClient(ws_url(rt)) as client:
        await client.send(MANUAL)
        await client.next("session.updated")
        await client.stream(pcm16(samples, rate), chunk_ms=1000)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.next("input_audio_buffer.committed")
        client.ws.transport.abort()  # gone without a close frame, while its turn is transcribed
    await asyncio.to_thread(wait_sessions, rt, 0)
    await asyncio.to_thread(wait_model_state, rt, "not_loaded", 60)  # its turn's job ended, the slot is free
    response = await asyncio.to_thread(transcribe, rt, speech_file(SENTENCE), timeout=60)
    assert response.status_code == 200 and word_error_rate(SENTENCE, response.json()["text"]) <= MAX_WER


async def test_other_session_types_are_refused(rt: Server) -> None:
    async with RealtimeClient(ws_url(rt, "intent=conversation")) as client:
        error = (await client.recv())["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "intent")
        with pytest.raises(ConnectionClosed):
            await client.recv(10)
        assert client.ws.close_code == 1008


async def test_a_model_that_cannot_load_fails_the_turn(tmp_path: Path) -> None:
    """The model path does not exist: the session says so at once, and a committed turn fails."""
    samples, rate = utterance(SENTENCE, before=0.2, after=0.2)
    env = asr_env(tmp_path, WHISPERX_MODEL=str(tmp_path / "no-such-model"), MODEL_TTL_SECONDS="0")
    with run_service("asr", env, tmp_dir=tmp_path) as server:
        async with RealtimeClient(ws_url(server)) as client:
            await client.next("session.created")
            preload = (await client.next("error", 120))["error"]
            assert preload["code"] == "model_unavailable" and "WHISPERX_MODEL" in preload["message"]
            await client.send(MANUAL)
            await client.next("session.updated")
            await client.stream(pcm16(samples, rate))
            await client.send({"type": "input_audio_buffer.commit"})
            committed = await client.next("input_audio_buffer.committed")
            failed = await client.next("conversation.item.input_audio_transcription.failed", 120)
            assert failed["item_id"] == committed["item_id"]
            assert failed["error"]["code"] == "model_unavailable" and failed["error"]["type"] == "server_error"


async def test_a_session_ends_at_its_maximum_duration(tmp_path: Path) -> None:
    """REALTIME_MAX_SESSION_SECONDS: the session says so in an error event, then closes normally and
    no longer counts as open. (The model named does not exist: its preload fails, and nothing else needs it.)"""
    env = asr_env(tmp_path, WHISPERX_MODEL=str(tmp_path / "no-such-model"), REALTIME_MAX_SESSION_SECONDS="2")
    with run_service("asr", env, tmp_dir=tmp_path) as server:
        opened = time.time()  # before the session exists: a slow handshake cannot move the bounds
        async with RealtimeClient(ws_url(server)) as client:
            session = (await client.next("session.created"))["session"]
            assert int(opened + 2) <= session["expires_at"] <= time.time() + 2  # whole seconds
            expired = (await client.next("error", 30))["error"]
            while expired["code"] == "model_unavailable":  # the preload's complaint comes first
                expired = (await client.next("error", 30))["error"]
            assert expired["code"] == "session_expired" and "maximum duration" in expired["message"]
            assert time.time() - opened >= 1.5
            with pytest.raises(ConnectionClosed):
                await client.recv(10)
            assert client.ws.close_code == 1000
        # Once the model preload has failed too: on a busy machine that takes a while (torch's imports).
        await asyncio.to_thread(wait_sessions, server, 0, 60)
