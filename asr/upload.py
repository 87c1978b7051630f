"""Receive the multipart upload as it arrives: text fields in memory, the file straight to disk.

Starlette's ``request.form()`` would buffer the body; here the request stream is fed to the shared
form scanner and the ``file`` part is written to a temporary file in batches, off the event loop,
so memory stays flat whatever the upload size. The file is always deleted when the context ends,
error or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from starlette.requests import ClientDisconnect

from common.disconnect import ClientGone
from common.errors import invalid
from common.multipart import FormScanner, form_boundary, malformed, missing_file

WRITE_BYTES = 1024 * 1024  # disk writes are batched and done in a worker thread


@dataclass
class Upload:
    """A received request: its text fields and where its file was spooled (None: no file part)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    filename: str | None = None
    size: int = 0

    def require_file(self) -> Path:
        if self.path is None:
            raise missing_file()
        if self.size == 0:
            raise invalid("The uploaded file is empty: send an audio file.", "file", "empty_file")
        return self.path


@contextlib.asynccontextmanager
async def spooled_upload(request: Request, max_field_bytes: int) -> AsyncIterator[Upload]:
    """Parse ``request`` as multipart/form-data while it streams in; the spooled file is removed
    when the context exits."""
    scanner = FormScanner(form_boundary(request.headers.get("content-type")), max_field_bytes, keep_file=True)
    fd, name = tempfile.mkstemp(prefix="asr-upload-")
    try:
        with os.fdopen(fd, "wb") as spool:
            pending = bytearray()
            try:
                async for chunk in request.stream():
                    scanner.feed(chunk)
                    pending += scanner.take_file_data()
                    if len(pending) >= WRITE_BYTES:
                        await asyncio.to_thread(spool.write, pending)
                        pending = bytearray()
            except ClientDisconnect:
                raise ClientGone from None
            if pending:
                await asyncio.to_thread(spool.write, pending)
        if not scanner.complete:
            raise malformed("the body ended before the closing boundary")
        upload = Upload(fields=scanner.fields, size=scanner.file_size, filename=scanner.file_name)
        if scanner.file_seen:
            upload.path = Path(name)
        yield upload
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
