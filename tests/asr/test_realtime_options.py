"""OpenAI's realtime session options on the ASR service: turn_detection.idle_timeout_ms, include
item.input_audio_transcription.logprobs, noise_reduction, and the transcription's keywords and
languages. Real tiny.en, real Silero VAD, real Piper speech; every server event is checked against
OpenAI's published schema (fixtures/realtime.py), and the SDK's realtime client parses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI

from fixtures.realtime import RealtimeClient, SdkEvents, append, pcm16, utterance
from fixtures.servers import Server
from fixtures.speech import SENTENCES, speech
from fixtures.wer import word_error_rate
from tests.asr.test_realtime import completed_turns, deltas_of, wait_sessions, ws_url

pytestmark = pytest.mark.anyio

LOGPROBS = "item.input_audio_transcription.logprobs"
SILENCE_MS = 5000  # the shortest idle timeout OpenAI allows


@pytest.fixture(autouse=True)
def no_session_still_closing(request: pytest.FixtureRequest) -> None:
    """``rt`` takes few sessions at once: each test starts once the sessions of the one before have
    closed on the server (a client's close returns before the server has let its slot go)."""
    if "rt" in request.fixturenames:
        wait_sessions(request.getfixturevalue("rt"), 0)


def session_update(input_audio: dict[str, Any], **session: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": input_audio}, **session}}


def silence(seconds: float) -> bytes:
    return pcm16(np.zeros(int(seconds * 24000), np.float32), 24000)


def spelled(tokens: list[dict[str, Any]], text: str) -> bool:
    return "".join(t["token"] for t in tokens) == text and b"".join(bytes(t["bytes"]) for t in tokens) == text.encode()


async def test_idle_timeout_commits_the_silent_audio_as_a_turn(rt: Server) -> None:
    spoken, rate = utterance(SENTENCES[0], before=0.5, after=1.0)

    async with RealtimeClient(ws_url(rt)) as client:
        vad = {"type": "server_vad", "idle_timeout_ms": SILENCE_MS}
        await client.send(session_update({"turn_detection": vad}))
        updated = (await client.next("session.updated"))["session"]
        assert updated["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == SILENCE_MS

        await client.stream(silence(5.5))
        timeout = await client.next("input_audio_buffer.timeout_triggered")
        assert timeout["audio_start_ms"] == 0
        assert SILENCE_MS <= timeout["audio_end_ms"] <= SILENCE_MS + 100  # the append that reached it
        committed = await client.next("input_audio_buffer.committed")
        assert committed["item_id"] == timeout["item_id"]
        silent = (await completed_turns(client, 1))[0]
        assert (silent["item_id"], silent["transcript"]) == (timeout["item_id"], "")
        assert silent["usage"]["seconds"] == pytest.approx(timeout["audio_end_ms"] / 1000, abs=0.05)

        # Speech is a turn as usual; the idle time counts again from its end.
        await client.stream(pcm16(spoken, rate))
        stopped = await client.next("input_audio_buffer.speech_stopped")
        said = (await completed_turns(client, 1))[0]
        assert said["item_id"] == stopped["item_id"] and word_error_rate(SENTENCES[0], said["transcript"]) <= 0.15
        await client.stream(silence(5.5))
        again = await client.next("input_audio_buffer.timeout_triggered")
        assert again["audio_start_ms"] == stopped["audio_end_ms"]
        assert again["audio_end_ms"] - again["audio_start_ms"] >= SILENCE_MS
        kinds = [event["type"] for event in client.received]
        assert "input_audio_buffer.speech_started" not in kinds[: kinds.index("input_audio_buffer.committed")]

        await client.send(session_update({"turn_detection": {"type": "server_vad", "idle_timeout_ms": None}}))
        vad_now = (await client.next("session.updated"))["session"]["audio"]["input"]["turn_detection"]
        assert "idle_timeout_ms" not in vad_now  # off again


@pytest.mark.parametrize(
    ("input_audio", "param"),
    [
        ({"turn_detection": {"type": "server_vad", "idle_timeout_ms": 4999}}, "turn_detection.idle_timeout_ms"),
        ({"turn_detection": {"type": "server_vad", "idle_timeout_ms": 30001}}, "turn_detection.idle_timeout_ms"),
        ({"noise_reduction": {"type": "studio"}}, "noise_reduction.type"),
        ({"transcription": {"model": "whisper-1", "languages": ["en", "xx"]}}, "transcription.languages"),
        ({"transcription": {"model": "whisper-1", "keywords": ["x" * 101]}}, "transcription.keywords"),
    ],
)
async def test_bad_options_are_refused_by_name(rt: Server, input_audio: dict[str, Any], param: str) -> None:
    async with RealtimeClient(ws_url(rt)) as client:
        await client.next("session.created")
        await client.send(session_update(input_audio))
        error = (await client.next("error"))["error"]
    assert error["param"] == f"session.audio.input.{param}", error


async def test_logprobs_ride_on_deltas_and_completed_through_the_sdk(rt: Server) -> None:
    samples, rate = utterance(SENTENCES[1], before=0.5, after=1.2)
    audio = pcm16(samples, rate)

    client = AsyncOpenAI(base_url=f"{rt.url}/v1", api_key="not-checked-by-the-asr-service", max_retries=0)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        receive = SdkEvents(connection)
        await receive()  # session.created
        await connection.session.update(
            session={"type": "transcription", "include": [LOGPROBS], "audio": {"input": {"turn_detection": None}}}
        )
        assert (await receive())["session"]["include"] == [LOGPROBS]
        for start in range(0, len(audio), 9600):
            await connection.input_audio_buffer.append(audio=append(audio[start : start + 9600])["audio"])
        await connection.input_audio_buffer.commit()
        while (await receive())["type"] != "conversation.item.input_audio_transcription.completed":
            pass
    events = receive.events
    completed = events[-1]
    deltas = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert deltas and word_error_rate(SENTENCES[1], completed["transcript"]) <= 0.15
    for delta in deltas:
        assert spelled(delta["logprobs"], delta["delta"]), delta
    assert spelled(completed["logprobs"], completed["transcript"])
    assert [t for d in deltas for t in d["logprobs"]] == completed["logprobs"]
    assert all(t["logprob"] <= 0 for t in completed["logprobs"])


async def test_logprobs_follow_the_words_of_passes_made_while_speaking(rt: Server) -> None:
    """Server VAD with partial passes: deltas sent while the turn is spoken carry the tokens of their
    words too, and all of them join to the transcript."""
    samples, rate = utterance(SENTENCES[:2], before=0.5, after=1.5)

    async with RealtimeClient(ws_url(rt)) as client:
        await client.send(session_update({"turn_detection": {"type": "server_vad"}}, include=[LOGPROBS]))
        await client.next("session.updated")
        await client.stream(pcm16(samples, rate), pace=2)  # twice real time: passes happen meanwhile
        turns = await completed_turns(client, 1)
        events = [*client.received, *turns[-1:]]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert deltas_of(events, completed["item_id"]) == completed["transcript"]
    assert spelled(completed["logprobs"], completed["transcript"])


def quiet_in_noise(text: tuple[str, ...]) -> bytes:
    """Piper speech at a fifth of its level in white noise (a distant talker), as 24 kHz PCM; a fixed
    seed, so the same audio every run."""
    samples, rate = speech(text)
    padded = np.concatenate([np.zeros(rate // 2, np.float32), samples * 0.2, np.zeros(rate // 2, np.float32)])
    return pcm16(padded + np.random.default_rng(7).normal(0, 0.02, len(padded)).astype(np.float32), rate)


async def test_noise_reduction_filters_the_audio_before_it_is_transcribed(asr: Server) -> None:
    """Quiet speech in steady noise, filtered as it arrives (on ``asr``: 14 s in one turn): the
    configuration says so and the speech comes through (what the filter does to the audio is
    measured below, on the same filter)."""
    audio = quiet_in_noise(SENTENCES)

    async with RealtimeClient(ws_url(asr)) as client:
        created = (await client.next("session.created"))["session"]
        await client.send(session_update({"turn_detection": None, "noise_reduction": {"type": "far_field"}}))
        updated = (await client.next("session.updated"))["session"]
        await client.stream(audio, chunk_ms=500)
        await client.send({"type": "input_audio_buffer.commit"})
        transcript = (await completed_turns(client, 1))[0]["transcript"]
    assert "noise_reduction" not in created["audio"]["input"]  # off: OpenAI's session object has none then
    assert updated["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    assert word_error_rate(" ".join(SENTENCES), transcript) <= 0.2, transcript


def test_noise_reducer_lowers_the_noise_floor_and_keeps_the_speech() -> None:
    """WebRTC's suppression on real speech in white noise: the noise alone drops by more than
    10 dB, the speech by less than 3 dB; audio comes out in whole 10 ms frames, as it went in."""
    from asr.realtime.noise import NoiseReducer

    samples, rate = speech(SENTENCES[0])
    assert rate == 22050
    clean = np.interp(np.arange(0, len(samples), rate / 16000), np.arange(len(samples)), samples)  # to 16 kHz
    noise = np.random.default_rng(3).normal(0, 0.02, 2 * 16000 + len(clean))
    signal = noise + np.concatenate([np.zeros(2 * 16000), clean])
    reducer = NoiseReducer("near_field")
    pcm = (np.clip(signal, -1, 1) * 32767).astype(np.int16)
    out = np.concatenate([reducer(pcm[i : i + 1234]) for i in range(0, len(pcm), 1234)]).astype(np.float64) / 32768
    assert len(pcm) - 160 < len(out) <= len(pcm) and len(out) % 160 == 0

    def db(x: np.ndarray) -> float:
        return 10 * np.log10(np.mean(np.square(x)))

    settled = slice(16000, 2 * 16000)  # the second second of noise alone, once the filter has learnt it
    assert db(out[settled]) < db(signal[settled]) - 10
    speaking = slice(2 * 16000, len(out))
    assert db(out[speaking]) > db(clean[: len(out) - 2 * 16000]) - 3


async def test_beta_sessions_report_noise_reduction_and_include(rt: Server) -> None:
    async with RealtimeClient(ws_url(rt), headers={"OpenAI-Beta": "realtime=v1"}) as client:
        created = (await client.next("transcription_session.created"))["session"]
        assert "input_audio_noise_reduction" not in created and created["include"] == []
        update = {"input_audio_noise_reduction": {"type": "far_field"}, "include": [LOGPROBS]}
        await client.send({"type": "transcription_session.update", "session": update})
        session = (await client.next("transcription_session.updated"))["session"]
    assert session["input_audio_noise_reduction"] == {"type": "far_field"}
    assert session["include"] == [LOGPROBS]


async def test_keywords_and_languages_reach_the_transcription(rt: Server) -> None:
    """The transcription's keywords are Whisper's hotwords, as in a file transcription; languages
    restrict detection (English only, with tiny.en) and are reported back."""
    made_up = "Please send the final report to Zorblax before Friday."
    samples, rate = utterance(made_up, before=0.3, after=0.3)

    async with RealtimeClient(ws_url(rt)) as client:
        transcription = {"model": "whisper-1", "keywords": ["Zorblax"], "languages": ["en", "de"]}
        await client.send(session_update({"turn_detection": None, "transcription": transcription}))
        session = (await client.next("session.updated"))["session"]
        await client.stream(pcm16(samples, rate))
        await client.send({"type": "input_audio_buffer.commit"})
        completed = (await completed_turns(client, 1))[0]
    configured = session["audio"]["input"]["transcription"]
    assert (configured["keywords"], configured["languages"]) == (["Zorblax"], ["en", "de"])
    assert "Zorblax" in completed["transcript"], completed
    assert completed["languages"] == [{"code": "en"}]
