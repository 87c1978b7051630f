"""Failures a Wyoming client sees as ``error`` events, quickly, with the connection then closed (so a
client waiting for a transcript or for the end of the audio is never left waiting): an unknown voice,
a backend that is down (the stack's own, stopped and started again), a gateway that cannot be
reached or that never answers (a Wyoming server of their own pointed at it); and describe, which
answers with the last listing it read when the gateway has gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import SynthesizeVoice

from fixtures.realtime import utterance
from fixtures.servers import REPO, free_port, stop
from fixtures.speech import SENTENCE, speech_file
from fixtures.stack import LocalStack
from fixtures.waiting import wait_until
from fixtures.wyoming_client import connect, describe, pcm_of, synthesize, transcribe
from tests.gateway.flaky_proxy import flaky_proxy

pytestmark = pytest.mark.anyio

QUICKLY = 10.0  # seconds: an answer, not a hang (the stack answers a refused backend at once)


def error_of(events: list[Event]) -> Error:
    assert events[-1].type == "error", [event.type for event in events]
    return Error.from_event(events[-1])


async def closed_after(port: int, events: list[Event]) -> list[Event]:
    """Send ``events``; what comes back until the server closes the connection."""
    received: list[Event] = []
    async with connect(port) as client:
        for event in events:
            await client.write_event(event)
        while (event := await client.read_event()) is not None:
            received.append(event)
    return received


async def test_an_unknown_voice(embedded_stack: LocalStack) -> None:
    port = embedded_stack.ports["wyoming"]
    for name in ("nobody", "voice_doesnotexist"):
        events = await synthesize(port, "Hello.", SynthesizeVoice(name=name))
        error = error_of(events)
        assert error.code == "unknown_voice" and f"Unknown voice {name!r}" in error.text, error
        assert "alloy" in error.text and "joe" in error.text  # what there is instead
        assert [event.type for event in events] == ["error"]  # no audio-start before it


async def test_a_backend_that_is_down(embedded_stack: LocalStack) -> None:
    """The error is the API's own: the same message and code the gateway answers over HTTP."""
    port = embedded_stack.ports["wyoming"]
    samples, rate = utterance(SENTENCE, before=0.3, after=0.5)
    for service in ("coqui-tts", "asr"):
        stopped = embedded_stack.stop_service(service)
        try:
            started = time.monotonic()
            if service == "asr":
                events = await transcribe(port, pcm_of(samples, rate, 16000))
                with speech_file(SENTENCE).open("rb") as audio:
                    api = httpx.post(f"{embedded_stack.url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                                     files={"file": audio}, timeout=30)  # fmt: skip
            else:
                events = await synthesize(port, SENTENCE)
                body = {"model": "tts-1", "voice": "alloy", "input": SENTENCE}
                api = httpx.post(f"{embedded_stack.url}/v1/audio/speech", json=body, timeout=30)
            error = error_of(events)
            assert time.monotonic() - started < QUICKLY
            assert api.status_code == 502
            assert (error.text, error.code) == (api.json()["error"]["message"], api.json()["error"]["code"])
        finally:  # later tests share this stack
            embedded_stack.start_service(stopped)
    assert (await synthesize(port, SENTENCE))[-1].type == "audio-stop"  # back without a restart


@contextmanager
def wyoming_server(gateway_url: str, tmp_path: Path, **settings: str) -> Iterator[int]:
    """A Wyoming server of its own (``python -m wyoming_server``) on a free port, for ``gateway_url``."""
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "GATEWAY_URL": gateway_url, **settings}
    with (tmp_path / "wyoming.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "wyoming_server"], cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def listening() -> bool:
            assert process.poll() is None, (tmp_path / "wyoming.log").read_text()
            return _listening(port)

        wait_until(listening, 60, f"the Wyoming server to listen on port {port}", interval=0.1)
        yield port
    finally:
        stop(process)
        assert process.returncode == 0, (tmp_path / "wyoming.log").read_text()  # SIGTERM: a clean exit


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


async def expect_quick_errors(port: int, code: str) -> None:
    samples, rate = utterance(SENTENCE, before=0.3, after=0.5)
    for request in (
        lambda: closed_after(port, [Describe().event()]),
        lambda: synthesize(port, SENTENCE),
        lambda: transcribe(port, pcm_of(samples, rate, 16000)),
    ):
        started = time.monotonic()
        events = await request()
        assert time.monotonic() - started < QUICKLY
        assert error_of(events).code == code, events


async def test_a_gateway_that_cannot_be_reached(tmp_path: Path) -> None:
    with wyoming_server(f"http://127.0.0.1:{free_port()}", tmp_path) as port:
        await expect_quick_errors(port, "gateway_unreachable")


async def test_a_gateway_that_never_answers(tmp_path: Path) -> None:
    """It accepts connections and says nothing: the Wyoming server's timeouts answer for it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with wyoming_server(
            url, tmp_path, GATEWAY_CONNECT_TIMEOUT_SECONDS="1", GATEWAY_READ_TIMEOUT_SECONDS="1"
        ) as port:
            samples, rate = utterance(SENTENCE, before=0.3, after=0.5)
            for request in (lambda: synthesize(port, SENTENCE), lambda: transcribe(port, pcm_of(samples, rate, 16000))):
                started = time.monotonic()
                error = error_of(await request())
                assert time.monotonic() - started < QUICKLY
                assert error.code in ("gateway_timeout", "gateway_unreachable"), error
                assert "within 1 s" in error.text, error


async def test_describe_answers_with_the_last_listing_while_the_gateway_is_away(
    embedded_stack: LocalStack, tmp_path: Path
) -> None:
    """Home Assistant gives describe a second: once the Wyoming server has read the listings, it
    answers with them when the gateway cannot (here: a proxy in front of the real gateway, closed)."""
    with flaky_proxy(embedded_stack.url) as proxy, wyoming_server(proxy.url, tmp_path) as port:
        first = await describe(port)
        proxy.close_all()
        proxy.stop()
        started = time.monotonic()
        again = await describe(port)
        assert time.monotonic() - started < QUICKLY
        assert again == first
        speech = await synthesize(port, SENTENCE)  # nothing to fall back on
        assert error_of(speech).code == "gateway_unreachable"
