"""Every invalid request is answered by the gateway (400 envelope naming the parameter, or
413/415) and never reaches a backend."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from fixtures.servers import Server
from tests.gateway.conftest import FakeControl
from tests.gateway.helpers import Form, assert_error

MODEL = ("model", "whisper-1")

TRANSCRIPTION_CASES = [
    pytest.param([], "model", id="missing-model"),
    pytest.param([("model", "whisper-9")], "model", id="unknown-model"),
    pytest.param([MODEL, ("response_format", "xml")], "response_format", id="bad-format"),
    pytest.param([MODEL, ("language", "klingon")], "language", id="bad-language"),
    pytest.param([MODEL, ("advanced", "maybe")], "advanced", id="bad-bool-advanced"),
    pytest.param([MODEL, ("diarize", "2")], "diarize", id="bad-bool-diarize"),
    pytest.param([MODEL, ("stream", "yep")], "stream", id="bad-bool-stream"),
    pytest.param([MODEL, ("min_speakers", "3"), ("max_speakers", "2")], "min_speakers", id="min-gt-max"),
    pytest.param([MODEL, ("min_speakers", "0")], "min_speakers", id="min-speakers-zero"),
    pytest.param([MODEL, ("temperature", "1.5")], "temperature", id="temperature-range"),
    pytest.param([MODEL, ("timestamp_granularities[]", "char")], "timestamp_granularities[]", id="granularity"),
]


def _post_form(url: str, form: Form, path: str = "/v1/audio/transcriptions") -> httpx.Response:
    return httpx.post(f"{url}{path}", content=form.body(), headers={"content-type": form.content_type}, timeout=30)


@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first", "file-first"])
@pytest.mark.parametrize(("fields", "param"), TRANSCRIPTION_CASES)
def test_transcription_validation(
    gateway: Server, backend: FakeControl, fields: list[tuple[str, str]], param: str, file_first: bool
) -> None:
    form = Form(after=fields) if file_first else Form(before=fields)
    error = assert_error(_post_form(gateway.url, form), 400, param)
    assert param.split("_")[0] in error["message"].lower()
    assert backend.requests() == []


def test_unknown_model_names_the_accepted_ones(gateway: Server, backend: FakeControl) -> None:
    error = assert_error(_post_form(gateway.url, Form(before=[("model", "gpt-4o-transcribe")])), 400, "model")
    assert "'whisper-1', 'turbo'" in error["message"]


@pytest.mark.parametrize("fields", [[MODEL], []], ids=["with-model", "empty-form"])
def test_missing_file(gateway: Server, backend: FakeControl, fields: list[tuple[str, str]]) -> None:
    response = _post_form(gateway.url, Form(before=fields, file_size=None))
    if fields:
        assert_error(response, 400, "file", code="missing_required_parameter")
    else:
        assert_error(response, 400, "model")
    assert backend.requests() == []


def test_translation_rejects_transcription_only_format(gateway: Server, backend: FakeControl) -> None:
    form = Form(before=[MODEL, ("response_format", "diarized_json")])
    assert_error(_post_form(gateway.url, form, "/v1/audio/translations"), 400, "response_format")
    assert backend.requests() == []


def test_not_multipart_is_415(gateway: Server, backend: FakeControl) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert_error(response, 415, None, code="unsupported_media_type")
    assert backend.requests() == []


def test_truncated_multipart_is_400(gateway: Server, backend: FakeControl) -> None:
    form = Form(after=[MODEL])
    body = form.body()[:-20]  # the closing boundary never comes
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions", content=body, headers={"content-type": form.content_type}
    )
    assert_error(response, 400, None, code="invalid_multipart")
    assert backend.requests() == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_invalid_field_after_streamed_file_is_400_and_backend_never_completes(
    gateway: Server, backend: FakeControl, chunked: bool
) -> None:
    """Fields first (valid), then the file, then a bad field: the gateway still answers 400 and
    the backend request is aborted before its body ends."""
    form = Form(before=[MODEL], after=[("response_format", "xml")], file_size=3_000_000)
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions",
        content=form.chunks(chunk=256 * 1024) if chunked else form.body(),
        headers={"content-type": form.content_type},
        timeout=30,
    )
    assert_error(response, 400, "response_format")
    assert all(not r.get("body_done") for r in backend.requests())


SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}
SPEECH_CASES = [
    pytest.param({"model": "tts-2"}, "model", id="unknown-model"),
    pytest.param({"response_format": "ogg"}, "response_format", id="bad-format"),
    pytest.param({"speed": 0.1}, "speed", id="speed-low"),
    pytest.param({"speed": 4.5}, "speed", id="speed-high"),
    pytest.param({"speed": float("nan")}, "speed", id="speed-nan"),
    pytest.param({"input": ""}, "input", id="empty-input"),
    pytest.param({"input": "   "}, "input", id="blank-input"),
    pytest.param({"input": "a" * 4097}, "input", id="long-input"),
    pytest.param({"stream_format": "json"}, "stream_format", id="bad-stream-format"),
    pytest.param({"stream": "maybe"}, "stream", id="bad-bool"),
    pytest.param({"voice": None}, "voice", id="null-voice"),
]


@pytest.mark.parametrize(("change", "param"), SPEECH_CASES)
def test_speech_validation(gateway: Server, backend: FakeControl, change: dict, param: str) -> None:
    body = json.dumps({**SPEECH, **change})  # Python clients send NaN like this (not strict JSON)
    response = httpx.post(f"{gateway.url}/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    error = assert_error(response, 400, param)
    assert param in error["message"]
    assert backend.requests() == []


def test_speech_accepts_4096_chars_and_ignores_unknown_fields(gateway: Server, backend: FakeControl) -> None:
    body = {**SPEECH, "input": "a" * 4096, "vendor_extra": 1, "stream_format": "audio"}
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    forwarded = backend.requests()[0]["json"]
    assert forwarded["input"] == "a" * 4096
    assert "vendor_extra" not in forwarded and forwarded["stream_format"] == "audio"


@pytest.mark.parametrize(
    ("body", "param"),
    [(b"{not json", None), (b"", None), (json.dumps({"input": "x", "voice": "alloy"}).encode(), "model")],
    ids=["bad-json", "empty-body", "missing-model"],
)
def test_speech_body_errors(gateway: Server, backend: FakeControl, body: bytes, param: str | None) -> None:
    response = httpx.post(f"{gateway.url}/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, param)
    assert backend.requests() == []


def test_upload_over_limit_is_413_before_backend(strict_gateway: Server, backend: FakeControl) -> None:
    """Content-Length over MAX_UPLOAD_BYTES is refused before the body is read."""
    host, port = strict_gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000000\r\n\r\n"
        )
        answer = b""
        while b"MAX_UPLOAD_BYTES" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"MAX_UPLOAD_BYTES" in answer
    assert backend.requests() == []


@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first", "file-first"])
def test_chunked_upload_over_limit_is_413(strict_gateway: Server, backend: FakeControl, file_first: bool) -> None:
    """Without Content-Length the gateway counts: past the limit -> 413; no backend gets a whole body."""
    form = Form(after=[MODEL], file_size=2_000_000) if file_first else Form(before=[MODEL], file_size=2_000_000)
    response = httpx.post(
        f"{strict_gateway.url}/v1/audio/transcriptions",
        content=form.chunks(chunk=64 * 1024),  # an iterator: sent chunked
        headers={"content-type": form.content_type},
        timeout=30,
    )
    assert_error(response, 413, None, code="request_too_large")
    assert all(not r.get("body_done") for r in backend.requests())
    if file_first:
        assert backend.requests() == []


@contextlib.contextmanager
def _upload_socket(gateway: Server, file_first: bool) -> Iterator[tuple[socket.socket, bytes]]:
    """A raw connection that has sent a transcription request's head; the body is the caller's to send."""
    form = Form(after=[MODEL]) if file_first else Form(before=[MODEL])
    body = form.body()
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (form.content_type.encode(), len(body))
        )
        yield sock, body


@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first", "file-first"])
def test_stalled_upload_is_408(strict_gateway: Server, backend: FakeControl, file_first: bool) -> None:
    """A client that stops sending mid-body gets 408; no backend receives a whole request."""
    with _upload_socket(strict_gateway, file_first) as (sock, body):
        sock.sendall(body[: len(body) // 2])  # ... and then nothing
        answer = b""
        while b"REQUEST_BODY_TIMEOUT_SECONDS" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert all(not r.get("body_done") for r in backend.requests())


def test_stalled_speech_body_is_408(strict_gateway: Server, backend: FakeControl) -> None:
    host, port = strict_gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b'POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model"')
        answer = b""
        while b"request_timeout" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert backend.requests() == []


@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first", "file-first"])
def test_slow_steady_upload_is_not_a_stall(strict_gateway: Server, backend: FakeControl, file_first: bool) -> None:
    """The 1 s stall limit is between messages, not on the whole body: 2.4 s of steady trickle passes."""
    with _upload_socket(strict_gateway, file_first) as (sock, body):
        pieces = [body[i : i + len(body) // 8 + 1] for i in range(0, len(body), len(body) // 8 + 1)]
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.3)  # the trickle is what is tested
        answer = b""
        while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert [r["body_done"] for r in backend.requests()] == [True]


def _read_until_closed(sock: socket.socket) -> bytes:
    answer = b""
    while data := sock.recv(65536):
        answer += data
    return answer


def test_stalled_request_head_is_cut_off(strict_gateway: Server, backend: FakeControl) -> None:
    """A client that never finishes its request line and headers (slow loris) is disconnected at
    REQUEST_HEADER_TIMEOUT_SECONDS (the server's header read timeout: a bare close, no response)."""
    host, port = strict_gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        began = time.monotonic()
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-")  # ... and then nothing
        assert _read_until_closed(sock) == b""
        elapsed = time.monotonic() - began
    assert 0.8 < elapsed < 5
    assert backend.requests() == []


def test_dripped_request_head_is_cut_off(strict_gateway: Server) -> None:
    """The limit is on the whole head, not between bytes: a byte every 0.2 s does not keep it open."""
    host, port = strict_gateway.url.removeprefix("http://").split(":")
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        began = time.monotonic()
        for byte in head:
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.2)[0]:  # readable: the server closed (or answered)
                break
        assert sock.recv(65536) == b""
        elapsed = time.monotonic() - began
    assert 0.8 < elapsed < 5


def test_idle_connection_is_closed_and_kept_alive_requests_still_work(strict_gateway: Server) -> None:
    host, port = strict_gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as idle:
        assert _read_until_closed(idle) == b""  # nothing sent: closed without a response
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for _ in range(2):  # a kept-alive connection's second request has the same limit, and passes it
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            time.sleep(0.5)  # a head that takes half the limit: what is tested
            sock.sendall(b"Host: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        # The same limit bounds a kept-alive connection's idle wait for its next request.
        began = time.monotonic()
        assert b"HTTP/1.1" not in _read_until_closed(sock)
        assert time.monotonic() - began < 5
