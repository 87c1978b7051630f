"""What a client observes: the OpenAI error envelope, and raw HTTP/1.1 for misbehaving clients."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import httpx

ENVELOPE_KEYS = {"message", "type", "param", "code"}


def assert_envelope(response: httpx.Response, status: int | set[int], code: str | None = None) -> dict[str, Any]:
    """``response`` is an error with ``status`` in the OpenAI envelope; returns the error object."""
    statuses = {status} if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ENVELOPE_KEYS, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def multipart(
    fields: list[tuple[str, str | bytes]], file: bytes | None, *, file_first: bool = False
) -> tuple[str, bytes]:
    """(content type, body) of a form with ``fields`` and the ``file`` part (first or last)."""
    boundary = uuid.uuid4().hex
    parts = [
        b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (boundary.encode(), name.encode(), value if isinstance(value, bytes) else value.encode())
        for name, value in fields
    ]
    if file is not None:
        part = (
            b'--%s\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n%s\r\n" % (boundary.encode(), file)
        )
        parts.insert(0, part) if file_first else parts.append(part)
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + b"--%s--\r\n" % boundary.encode()


class RawClient:
    """One HTTP/1.1 connection driven by hand: send headers and parts of a body, read the answer."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)

    def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_response(self, timeout: float) -> tuple[int, bytes, float]:
        """(status, everything received, seconds waited); status 0 if the server closed without a word."""
        self.sock.settimeout(timeout)
        started = time.monotonic()
        data = b""
        try:
            while b"\r\n\r\n" not in data or not _complete(data):
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise AssertionError(f"no complete response within {timeout} s (got {data[:300]!r})") from None
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        return status, data, time.monotonic() - started

    def close(self) -> None:
        self.sock.close()


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True  # no length: read until the server closes or the head is all there is


def body_of(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[2]
