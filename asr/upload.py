"""Receive the multipart upload as it arrives: text fields in memory, the file straight to disk.

Starlette's ``request.form()`` would buffer the body; here the request stream is fed to
python-multipart's streaming parser and the ``file`` part is written to a temporary file chunk
by chunk, so memory stays flat whatever the upload size. The file is always deleted when the
context ends, error or not.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from common.errors import APIError, invalid

FILE_FIELD = "file"


@dataclass
class Upload:
    """A received request: its text fields and where its file was spooled (None: no file part)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    filename: str | None = None
    size: int = 0

    def require_file(self) -> Path:
        if self.path is None:
            raise APIError(
                400,
                "Missing required parameter: 'file'. Send the audio as a multipart file part named 'file'.",
                param="file",
                code="missing_required_parameter",
            )
        if self.size == 0:
            raise invalid("The uploaded file is empty: send an audio file.", "file", "empty_file")
        return self.path


class _Receiver:
    """python-multipart callbacks that route each part to the fields dict or the spool file."""

    def __init__(self, upload: Upload, max_field_bytes: int) -> None:
        self.upload = upload
        self.max_field_bytes = max_field_bytes
        self.field_bytes = 0
        self.spool: IO[bytes] | None = None
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._to_file = False
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers.clear()
        self._name, self._to_file = None, False
        self._value.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        # Only the first part named "file" that carries a filename is the upload; OpenAI
        # clients always send one. Other file parts are skipped like unknown fields.
        if self._name == FILE_FIELD and filename is not None and self.spool is None:
            self.spool = tempfile.NamedTemporaryFile(prefix="asr-upload-", delete=False)  # noqa: SIM115
            self.upload.path = Path(self.spool.name)
            self.upload.filename = filename.decode("utf-8", "replace")
            self._to_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._to_file:
            assert self.spool is not None
            self.spool.write(data[start:end])
            self.upload.size += end - start
            return
        self.field_bytes += end - start
        if self.field_bytes > self.max_field_bytes:
            raise APIError(
                413,
                f"The form's text fields are larger than {self.max_field_bytes} bytes.",
                code="request_too_large",
            )
        self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._to_file:
            self._to_file = False
            return
        if self._name:
            self.upload.fields.setdefault(self._name, []).append(self._value.decode("utf-8", "replace"))


@contextlib.asynccontextmanager
async def spooled_upload(request: Request, max_field_bytes: int) -> AsyncIterator[Upload]:
    """Parse ``request`` as multipart/form-data while it streams in; the spooled file is removed
    when the context exits."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise APIError(
            415,
            "Send the request as multipart/form-data with the audio in a part named 'file'.",
            code="unsupported_media_type",
        )
    upload = Upload()
    receiver = _Receiver(upload, max_field_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise invalid(f"The multipart body could not be parsed: {exc}.", None, "invalid_multipart") from None
        finally:
            if receiver.spool is not None:
                receiver.spool.close()
        yield upload
    finally:
        if upload.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(upload.path)
