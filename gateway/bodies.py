"""Small request bodies, read whole and bounded: JSON bodies and the custom-voice forms.

Transcription uploads stream (``upload.py``); these bodies are small (a JSON object, or a form with
a recording of at most 10 MiB), so they are read whole, with the same stall timeout, and refused
with 413 as soon as they pass their limit.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from common.api_types import VOICE_FILE_MAX_BYTES
from common.errors import APIError, validation_error
from common.multipart import FORM_OVERHEAD_BYTES, Form, file_too_large, read_form
from gateway.upload import body_chunks

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole (small) request body, or 413 past ``limit``."""
    body = bytearray()
    async for chunk, _ in body_chunks(request, timeout):
        body += chunk
        if len(body) > limit:
            raise APIError(413, f"The JSON body exceeds {limit} bytes (MAX_JSON_BYTES).", code="request_too_large")
    return bytes(body)


def require_json(content_type: str | None) -> None:
    """A JSON body, or no Content-Type at all; a form (``curl -d`` without ``-H``) or anything else is 415."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise APIError(
            415,
            f"Content-Type must be application/json (got {content_type[:100]}): send the request as a JSON body.",
            code="unsupported_media_type",
        )


def parse_json(model: type[M], body: bytes) -> M:
    """``body`` validated as ``model``; FastAPI's 400 envelope naming the field otherwise."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(RequestValidationError(exc.errors(include_url=False))) from None


async def read_json(request: Request, model: type[M]) -> M:
    settings = request.app.state.settings
    require_json(request.headers.get("content-type"))
    return parse_json(model, await read_body(request, settings.max_json_bytes, settings.request_body_timeout_seconds))


async def read_voice_form(request: Request, file_field: str) -> Form:
    """A custom-voice form (``recording`` or ``audio_sample`` of at most 10 MiB, OpenAI's limit)."""
    settings = request.app.state.settings
    limit = VOICE_FILE_MAX_BYTES + settings.max_form_field_bytes + FORM_OVERHEAD_BYTES
    if (length := request.headers.get("content-length", "")).isdigit() and int(length) > limit:
        raise file_too_large(file_field, VOICE_FILE_MAX_BYTES)  # before reading any of it
    chunks = (chunk async for chunk, _ in body_chunks(request, settings.request_body_timeout_seconds))
    return await read_form(
        chunks,
        request.headers.get("content-type"),
        file_field=file_field,
        max_file_bytes=VOICE_FILE_MAX_BYTES,
        max_field_bytes=settings.max_form_field_bytes,
    )


def encode_form(fields: dict[str, str], file_field: str, file_name: str, data: bytes) -> tuple[str, bytes]:
    """A multipart/form-data body for a backend, fields before the file: (Content-Type, body)."""
    encoded = httpx.Request("POST", "http://backend/", data=fields, files={file_field: (file_name, data)})
    return encoded.headers["content-type"], encoded.read()
