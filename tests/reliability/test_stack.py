"""The real stack under load, disconnects and hostile audio (tiny.en ASR, Piper TTS, MAX_QUEUE=3).

Every request ends with 200 or 429 (never hangs), 200 answers are right, 429s carry Retry-After
in the envelope, no service leaves a temporary file behind, and memory returns to where it was.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fixtures.load import (
    LONG_INPUT,
    audible,
    audio_seconds,
    silence_bomb,
    synthesize,
    transcribe,
    transcription_is_right,
)
from fixtures.speech import SENTENCE, SENTENCES, speech_file
from fixtures.waiting import wait_until
from tests.reliability.client import RawClient, assert_envelope, multipart
from tests.reliability.conftest import QUEUE, Stack

BURST = 20
RSS_SLACK = 1.15  # after a burst, each service is back within 15 % (+ 40 MB) of its warm baseline
RSS_SLACK_BYTES = 40 * 1024**2
GONE = "client disconnected; its request was cancelled"  # what a backend logs for a client that left


def wait_clean(stack: Stack, timeout: float = 10.0) -> None:
    try:
        wait_until(lambda: not stack.leftovers(), timeout, "every temporary file to be removed", interval=0.1)
    except AssertionError as late:
        raise AssertionError(f"{late}; left behind: {stack.leftovers()}") from None


def burst(send, count: int = BURST) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """``count`` requests released at the same instant, each on its own connection."""
    start = threading.Barrier(count)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=180) as client:
            start.wait()
            return send(client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def rss(stack: Stack) -> dict[str, int]:
    import psutil

    return {name: psutil.Process(s.process.pid).memory_info().rss for name, s in
            (("gateway", stack.gateway), ("asr", stack.asr), ("tts", stack.tts))}  # fmt: skip


def check_busy(response: httpx.Response) -> None:
    assert_envelope(response, 429, "server_busy")
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture(scope="module")
def warm(stack: Stack) -> dict[str, int]:
    """Models loaded and a few requests served: the memory baseline."""
    with httpx.Client(timeout=120) as client:
        for _ in range(2):
            assert transcribe(client, stack.url).status_code == 200
            assert synthesize(client, stack.url).status_code == 200
    stack.record_resident()
    return rss(stack)


def assert_memory_back(stack: Stack, baseline: dict[str, int]) -> None:
    """Each service's RSS comes back within the slack of its baseline (the last session's unload and
    trim run after its response)."""

    def grown() -> dict[str, tuple[int, int]]:  # service -> (MiB before, MiB now), for those above it
        now = rss(stack)
        return {name: (before >> 20, now[name] >> 20) for name, before in baseline.items()
                if now[name] > before * RSS_SLACK + RSS_SLACK_BYTES}  # fmt: skip

    try:
        wait_until(lambda: not grown(), 10, "each service's memory to come back", interval=0.2)
    except AssertionError as late:
        raise AssertionError(f"{late}; above the baseline (MiB before, now): {grown()}") from None


def test_simultaneous_transcriptions_end_in_200_or_429(stack: Stack, warm: dict[str, int]) -> None:
    started = time.monotonic()
    responses = burst(lambda client: transcribe(client, stack.url))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= QUEUE + 1 and statuses.count(429) >= 1, statuses
    for response in responses:
        if response.status_code == 200:
            assert transcription_is_right(response.json()["text"]), response.text
        else:
            check_busy(response)
    assert time.monotonic() - started < 120
    wait_clean(stack)
    assert_memory_back(stack, warm)


def test_simultaneous_syntheses_end_in_200_or_429(stack: Stack, warm: dict[str, int]) -> None:
    responses = burst(lambda client: synthesize(client, stack.url))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= QUEUE + 1 and statuses.count(429) >= 1, statuses
    for response in responses:
        if response.status_code == 200:
            assert response.headers["content-type"] == "audio/wav"
            assert audio_seconds(response.content) > 1.0 and audible(response.content)
        else:
            check_busy(response)
    wait_clean(stack)
    assert_memory_back(stack, warm)


def test_queued_requests_whose_client_left_free_their_place(stack: Stack, warm: dict[str, int]) -> None:
    """With one long synthesis running and QUEUE clients gone from the queue, QUEUE new requests
    still fit: a client that gave up holds no place."""
    with ThreadPoolExecutor(1 + QUEUE) as pool, httpx.Client(timeout=180) as long_client:
        mark = len(stack.tts.log())
        running = pool.submit(synthesize, long_client, stack.url, input=LONG_INPUT)
        stack.tts.wait_for_log("speaking", timeout=30, since=mark)  # it holds the inference slot
        body = httpx.Request("POST", "http://x", json={"model": "tts-1", "input": "Hello.", "voice": "alloy"}).read()
        leaving = [RawClient(stack.url) for _ in range(QUEUE)]
        for client in leaving:  # whole requests, that wait for the slot
            client.send_head("POST", "/v1/audio/speech", {"Content-Type": "application/json",
                                                          "Content-Length": str(len(body))})  # fmt: skip
            client.send(body)
        # Nothing the TTS service shows says it has queued a request: the gateway gets a moment to pass
        # them on before their clients hang up, and the wait below checks that each was queued and left.
        time.sleep(0.5)
        for client in leaving:
            client.close()
        wait_until(lambda: stack.tts.log()[mark:].count(GONE) == QUEUE, 10, f"{QUEUE} lines {GONE!r} from the TTS")
        assert not running.done(), "the long synthesis must still run for this test to mean anything"
        with httpx.Client(timeout=180) as client:
            waiting = [pool.submit(synthesize, client, stack.url) for _ in range(QUEUE)]
            statuses = [f.result().status_code for f in waiting]
        assert statuses == [200] * QUEUE, statuses
        assert running.result().status_code == 200
    wait_clean(stack)


@pytest.mark.parametrize("file_first", [False, True], ids=["streamed", "spooled"])
def test_client_gone_mid_upload(stack: Stack, warm: dict[str, int], file_first: bool) -> None:
    clip = speech_file(SENTENCES, "wav").read_bytes()
    content_type, body = multipart([("model", "whisper-1")], clip, file_first=file_first)
    client = RawClient(stack.url)
    client.send_head("POST", "/v1/audio/transcriptions", {"Content-Type": content_type,
                                                          "Content-Length": str(len(body))})  # fmt: skip
    client.send(body[: len(body) // 2])
    # The gateway (spooled) or the ASR service (streamed) holds the partial upload in a file.
    wait_until(lambda: stack.held_open("gateway" if file_first else "asr"), 10, "a partial upload")
    client.close()
    wait_clean(stack)
    with httpx.Client(timeout=120) as http:
        response = transcribe(http, stack.url)
    assert response.status_code == 200 and transcription_is_right(response.json()["text"])
    wait_clean(stack)


def test_client_gone_mid_speech_stream(stack: Stack, warm: dict[str, int]) -> None:
    started = time.monotonic()
    with httpx.Client(timeout=120) as client:
        with client.stream("POST", f"{stack.url}/v1/audio/speech",
                           json={"model": "tts-1", "input": LONG_INPUT, "voice": "alloy", "stream": True,
                                 "response_format": "pcm"}) as response:  # fmt: skip
            assert response.status_code == 200
            next(response.iter_raw())
        first_chunk = time.monotonic() - started
        # The abandoned synthesis stops at its next chunk, so this one is not stuck behind it.
        response = synthesize(client, stack.url)
    assert response.status_code == 200 and audio_seconds(response.content) > 1.0
    assert time.monotonic() - started < first_chunk + 15
    wait_clean(stack)


def test_client_gone_mid_transcription_stream(stack: Stack, warm: dict[str, int]) -> None:
    clip = speech_file(SENTENCES * 4, "mp3")  # longer than the stack's chunk threshold: several windows
    with httpx.Client(timeout=120) as client:
        with client.stream("POST", f"{stack.url}/v1/audio/transcriptions",
                           data={"model": "whisper-1", "stream": "true"},
                           files={"file": (clip.name, clip.read_bytes())}) as response:  # fmt: skip
            assert response.status_code == 200
            assert b"transcript.text.delta" in next(response.iter_raw())
        response = transcribe(client, stack.url)
    assert response.status_code == 200 and transcription_is_right(response.json()["text"])
    wait_clean(stack)


def test_decompression_bomb_audio_is_400(stack: Stack, warm: dict[str, int]) -> None:
    """Two hours of silence in a few kB: refused by MAX_AUDIO_SECONDS, quickly."""
    bomb = silence_bomb()
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        response = transcribe(client, stack.url, clip=bomb)
    error = assert_envelope(response, 400)
    assert error["param"] == "file" and "MAX_AUDIO_SECONDS" in error["message"], error
    assert time.monotonic() - started < 20
    wait_clean(stack)


@pytest.mark.parametrize(
    "text",
    [
        "Hello\x00 world\x07 and\x1b[31m red \u202e reversed \ufeff.",
        "\x00\x01\x02 Hello.",
        "\u200b\u200b Hi \U0001f600.",
    ],
)
def test_control_characters_in_speech_input_are_spoken_as_spaces(stack: Stack, warm: dict[str, int], text: str) -> None:
    """docs/reliability.md: control characters in speech ``input`` are spoken as spaces; the text is said."""
    with httpx.Client(timeout=120) as client:
        response = synthesize(client, stack.url, input=text)
    assert response.status_code == 200, response.text
    assert audio_seconds(response.content) > 0 and audible(response.content)


def test_only_control_characters_in_speech_input_is_400(stack: Stack, warm: dict[str, int]) -> None:
    """docs/api.md: ``input`` must not be only whitespace or control characters."""
    with httpx.Client(timeout=120) as client:
        response = synthesize(client, stack.url, input="\x00\x07\x1b\u200b")
    error = assert_envelope(response, 400)
    assert error["param"] == "input", error


def test_invalid_utf8_prompt_is_tolerated(stack: Stack, warm: dict[str, int]) -> None:
    clip = speech_file(SENTENCE, "wav").read_bytes()
    content_type, body = multipart([("model", "whisper-1"), ("prompt", b"caf\xe9 \xff\x00")], clip)
    response = httpx.post(f"{stack.url}/v1/audio/transcriptions", content=body,
                          headers={"content-type": content_type}, timeout=120)  # fmt: skip
    assert response.status_code == 200 and transcription_is_right(response.json()["text"]), response.text


def test_services_survived(stack: Stack) -> None:
    for server in (stack.gateway, stack.asr, stack.tts):
        assert server.process.poll() is None
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    wait_clean(stack)
