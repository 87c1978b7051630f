"""Hostile and broken requests against the gateway: a clear 4xx in the envelope, never a 5xx or a hang.

The gateway runs in front of the fake backend (tests/gateway/fake_backend.py) with a 2 MB upload
limit and a 2 s idle timeout on request bodies; the real backends' share is in test_stack.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from fixtures.servers import Server
from tests.reliability.client import RawClient, assert_envelope, body_of, multipart
from tests.reliability.conftest import BODY_IDLE_SECONDS, UPLOAD_LIMIT, FakeControl

SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}
FIELDS: list[tuple[str, str | bytes]] = [("model", "whisper-1")]


def _transcribe(gateway: Server, content_type: str, body: bytes) -> httpx.Response:
    headers = {"content-type": content_type}
    return httpx.post(f"{gateway.url}/v1/audio/transcriptions", content=body, headers=headers, timeout=10)


def _speech(gateway: Server, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/audio/speech", content=body, headers={"content-type": content_type}, timeout=10
    )


# --- size ----------------------------------------------------------------------------------------


def test_declared_oversized_upload_is_413_before_the_body_is_sent(fake_gateway: Server, backend: FakeControl) -> None:
    client = RawClient(fake_gateway.url)
    try:
        client.send_head("POST", "/v1/audio/transcriptions", {
            "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10 * 1024**3)})  # fmt: skip
        status, raw, waited = client.read_response(timeout=5)
    finally:
        client.close()
    assert status == 413 and waited < 5
    assert json.loads(body_of(raw))["error"]["code"] == "request_too_large"
    assert backend.requests() == []


def test_chunked_oversized_upload_is_413_and_never_completes_upstream(
    fake_gateway: Server, backend: FakeControl
) -> None:
    content_type, head = multipart(FIELDS, None)
    head = head.rsplit(b"--", 2)[0]  # fields, then a file part that never ends

    def body():  # chunked: no Content-Length to refuse up front
        yield head + b'--%s\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n' % (
            content_type.split("=")[1].encode()
        )
        for _ in range(UPLOAD_LIMIT // 65536 + 2):
            yield b"\0" * 65536

    response = httpx.post(f"{fake_gateway.url}/v1/audio/transcriptions", content=body(),
                          headers={"content-type": content_type}, timeout=10)  # fmt: skip
    assert_envelope(response, 413, "request_too_large")
    assert not any(r["completed"] for r in backend.requests())


def test_huge_json_is_413(fake_gateway: Server, backend: FakeControl) -> None:
    body = json.dumps({**SPEECH, "input": "a" * 3_000_000}).encode()
    assert_envelope(_speech(fake_gateway, body), 413, "request_too_large")
    assert backend.requests() == []


def test_too_many_form_fields_is_413(fake_gateway: Server, backend: FakeControl) -> None:
    content_type, body = multipart([*FIELDS, *[("x", "y" * 100)] * 15_000], b"RIFF")
    assert_envelope(_transcribe(fake_gateway, content_type, body), 413, "request_too_large")
    assert backend.requests() == []


# --- slow clients --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "start"),
    [
        ("/v1/audio/transcriptions", None, None),
        ("/v1/audio/speech", "application/json", b'{"model": "tts-1", "input": "hel'),
    ],
    ids=["upload", "json"],
)
def test_slow_loris_body_times_out(
    fake_gateway: Server, backend: FakeControl, path: str, content_type: str | None, start: bytes | None
) -> None:
    """A client that sends part of a body and then nothing is answered 408 and let go."""
    if start is None:
        content_type, body = multipart(FIELDS, b"\0" * 50_000)
        start = body[:20_000]
    client = RawClient(fake_gateway.url)
    try:
        client.send_head("POST", path, {"Content-Type": content_type, "Content-Length": "100000"})
        client.send(start)
        status, raw, waited = client.read_response(timeout=BODY_IDLE_SECONDS + 8)
    finally:
        client.close()
    assert status == 408, raw[:300]
    assert waited < BODY_IDLE_SECONDS + 5
    error = json.loads(body_of(raw))["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert not any(r["completed"] for r in backend.requests())


# --- malformed multipart -------------------------------------------------------------------------

GOOD_TYPE, GOOD_BODY = multipart(FIELDS, b"RIFF....WAVE")
BOUNDARY = GOOD_TYPE.split("=")[1].encode()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (GOOD_TYPE, GOOD_BODY[:-10]),  # the closing boundary never comes
        (GOOD_TYPE, b"this is not a multipart body at all"),
        (GOOD_TYPE, b""),
        ("multipart/form-data", GOOD_BODY),  # no boundary
        ("multipart/form-data; boundary=", GOOD_BODY),
        (GOOD_TYPE, b"--%s\r\n\r\nno headers\r\n--%s--\r\n" % (BOUNDARY, BOUNDARY)),
        (GOOD_TYPE, b'--%s\r\nContent-Disposition: form-data; name="model"\r\n' % BOUNDARY),  # headers never end
        (GOOD_TYPE, b"--%s\r\nX\x00\xff: \xfe\r\n\r\n\xff\r\n--%s--\r\n" % (BOUNDARY, BOUNDARY)),
        (GOOD_TYPE, GOOD_BODY.replace(b'name="file"', b"name=file\xff\xfe")),
        (GOOD_TYPE, multipart(FIELDS, None)[1].replace(BOUNDARY, GOOD_TYPE.split("=")[1].encode())),  # no file
    ],
    ids=[
        "truncated",
        "garbage",
        "empty",
        "no-boundary",
        "empty-boundary",
        "part-without-headers",
        "unterminated-headers",
        "binary-headers",
        "mangled-file-name",
        "no-file",
    ],
)
def test_malformed_multipart_is_400(fake_gateway: Server, backend: FakeControl, content_type: str, body: bytes) -> None:
    assert_envelope(_transcribe(fake_gateway, content_type, body), 400)
    assert not any(r["completed"] for r in backend.requests())


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ([("model", b"\xff\xfe")], "model"),
        ([("model", "whisper-1\x00")], "model"),
        ([("model", "whisper-1"), ("language", "e\x00n")], "language"),
        ([("model", "whisper-1"), ("temperature", "\x1b[31m")], "temperature"),
        ([("model", "whisper-1"), ("response_format", "json\r\nX-Injected: 1")], "response_format"),
    ],
)
def test_invalid_bytes_in_form_fields_are_400(
    fake_gateway: Server, backend: FakeControl, fields: list[tuple[str, str | bytes]], param: str
) -> None:
    content_type, body = multipart(fields, b"RIFF....WAVE")
    assert assert_envelope(_transcribe(fake_gateway, content_type, body), 400)["param"] == param
    assert backend.requests() == []


def test_control_characters_in_a_free_text_field_pass_through(fake_gateway: Server, backend: FakeControl) -> None:
    content_type, body = multipart([*FIELDS, ("prompt", b"bell \x07 nul \x00 bad \xff\xfe")], b"RIFF....WAVE")
    assert _transcribe(fake_gateway, content_type, body).status_code == 200


# --- content types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", "audio/wav", ""]
)
def test_upload_with_wrong_content_type_is_415(fake_gateway: Server, backend: FakeControl, content_type: str) -> None:
    assert_envelope(_transcribe(fake_gateway, content_type, b'{"model": "whisper-1"}'), 415)
    assert backend.requests() == []


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                                          "text/plain", "audio/wav"])  # fmt: skip
def test_speech_with_wrong_content_type_is_415(fake_gateway: Server, backend: FakeControl, content_type: str) -> None:
    assert_envelope(_speech(fake_gateway, json.dumps(SPEECH).encode(), content_type), 415)
    assert backend.requests() == []


# --- broken JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "tts-1", "input": "caf\xe9 \xff", "voice": "alloy"}',  # invalid UTF-8
        b"\xef\xbb\xbf\xff\xfe{}",
        b'{"model": "tts-1", "input": "hi", "voice": "alloy", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        b'{"model": "tts-1", "input": "hi", "voice": "alloy", "x": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b"[]",
        b'"just a string"',
        b"null",
        b'{"model": "tts-1", "input": "hi", "voice": "alloy"',
        b'{"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 1e999999}',
        b'{"model": "tts-1", "input": "hi", "voice": "alloy", "speed": NaN}',
        b'{"model": "tts-1", "input": "\\ud800", "voice": "alloy"}',  # lone surrogate
        b"",
    ],
    ids=[
        "invalid-utf8",
        "bom-garbage",
        "deep-arrays",
        "deep-objects",
        "array",
        "string",
        "null",
        "truncated",
        "huge-number",
        "nan",
        "lone-surrogate",
        "empty",
    ],
)
def test_broken_json_is_400(fake_gateway: Server, backend: FakeControl, body: bytes) -> None:
    response = _speech(fake_gateway, body)
    assert_envelope(response, 400)


def test_gateway_survived_everything(fake_gateway: Server) -> None:
    assert fake_gateway.process.poll() is None
    assert httpx.get(f"{fake_gateway.url}/healthz").status_code == 200
    assert "Traceback" not in fake_gateway.log(), fake_gateway.log()[-3000:]
