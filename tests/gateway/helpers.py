"""Building multipart bodies byte by byte (so tests know exactly what the backend must receive)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

Fields = Sequence[tuple[str, str]]


@dataclass
class Form:
    """A multipart/form-data body: fields before and/or after an optional file part."""

    before: Fields = ()
    after: Fields = ()
    file_size: int | None = 1024
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field(self, name: str, value: str) -> bytes:
        return f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()

    def chunks(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        yield b"".join(self._field(n, v) for n, v in self.before)
        if self.file_size is not None:
            yield (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                "Content-Type: audio/wav\r\n\r\n"
            ).encode()
            block = bytes(range(256)) * (chunk // 256)
            left = self.file_size
            while left > 0:
                yield block[: min(left, len(block))]
                left -= min(left, len(block))
            yield b"\r\n"
        yield b"".join(self._field(n, v) for n, v in self.after) + f"--{self.boundary}--\r\n".encode()

    def body(self) -> bytes:
        return b"".join(self.chunks())

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for part in self.chunks():
            digest.update(part)
        return digest.hexdigest()

    def size(self) -> int:
        return sum(len(part) for part in self.chunks())


def assert_error(response: httpx.Response, status: int, param: str | None = None, *, code: str | None = None) -> dict:
    """The OpenAI envelope with ``status`` and ``param``; returns the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"]
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error
