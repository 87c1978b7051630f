"""What the smoke checks of a running deployment share (``scripts/compose_smoke.py``,
``scripts/scale_smoke.py``): a runner that prints one line per check, and the API as a client on
the host sees it through the published gateway.

A check is a small function registered with ``@checks.check(services...)``: it raises
``CheckFailed`` (or any exception) to fail, and returns a short detail for its line. Checks run in
the order written; a failing one is followed by the last logs of the services it names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fixtures.wer import word_error_rate  # the tests' WER: lower-cased, punctuation removed

MAX_WER = 0.2


class CheckFailed(Exception):
    """What a check found wrong, in one line."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]
    services: tuple[str, ...]  # whose logs to show when it fails


class Checks:
    def __init__(self) -> None:
        self.registered: list[Check] = []

    def check(self, *services: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
        def register(function: Callable[[], str]) -> Callable[[], str]:
            self.registered.append(Check(function.__name__.replace("_", " "), function, services))
            return function

        return register

    def run(self, title: str, logs: Callable[[str], str]) -> int:
        """Run every check, print a line each and a summary; ``logs(service)`` after a failure.
        The exit status: 1 when a check failed."""
        passed = failed = 0
        for item in self.registered:
            started = time.monotonic()
            try:
                detail = item.run()
            except Exception as exc:
                failed += 1
                reason = str(exc) if isinstance(exc, CheckFailed) else "".join(traceback.format_exception_only(exc))
                print(f"FAIL  {item.name}: {reason.strip()} ({time.monotonic() - started:.1f} s)", flush=True)
                for service in item.services:
                    print(f"----- last logs of {service} -----\n{logs(service)}", file=sys.stderr, flush=True)
            else:
                passed += 1
                print(f"PASS  {item.name}: {detail} ({time.monotonic() - started:.1f} s)", flush=True)
        print(f"{title}: {passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


def docker(*args: str, timeout: float = 120) -> str:
    """A docker command's output (the client the calling script found, DOCKER in the environment)."""
    result = subprocess.run(
        [os.environ.get("DOCKER", "docker"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args[:3])} …: {result.stderr.strip()[-500:]}")
    return result.stdout


def expect_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    expect(response.status_code == status, f"expected {status}, got {response.status_code} {response.text[:300]}")
    return envelope(response)


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object of an error response, complete."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(f"{response.status_code} without the error envelope: {response.text[:300]}") from None
    expect(
        isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error),
        f"incomplete error envelope: {error}",
    )
    return error


def expect_words(reference: str, heard: str) -> float:
    wer = word_error_rate(reference, heard)
    expect(wer <= MAX_WER, f"WER {wer:.2f} > {MAX_WER}: heard {heard!r}")
    return wer


class Gateway:
    """The published gateway, as a client on the host calls it."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=httpx.Timeout(120, connect=10))

    def speech(self, text: str, response_format: str) -> httpx.Response:
        return self.client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": response_format},
        )

    def speak(self, text: str, response_format: str) -> bytes:
        response = self.speech(text, response_format)
        expect(response.status_code == 200, f"speech {response_format}: {response.status_code} {response.text[:300]}")
        expect(len(response.content) > 1000, f"speech {response_format}: only {len(response.content)} bytes")
        return response.content

    def transcription(self, audio: bytes, filename: str, request_id: str | None = None) -> httpx.Response:
        return self.client.post(
            "/v1/audio/transcriptions",
            files={"file": (filename, audio)},
            data={"model": "whisper-1"},
            headers={"x-request-id": request_id} if request_id else None,
        )

    def transcribe(self, audio: bytes, filename: str) -> str:
        response = self.transcription(audio, filename)
        expect(response.status_code == 200, f"transcription: {response.status_code} {response.text[:300]}")
        return response.json()["text"]

    def consent(self, statement: str | None = None, name: str = "smoke") -> httpx.Response:
        """A voice consent: the statement (or ``statement``) read by espeak-ng on the host."""
        from fixtures.speech import espeak_file
        from gateway.consent import STATEMENTS

        recording = espeak_file(statement or STATEMENTS["en"]).read_bytes()
        return self.client.post(
            "/v1/audio/voice_consents",
            data={"name": name, "language": "en-US"},
            files={"recording": ("consent.wav", recording)},
        )
