"""Route dependencies that refuse a body of the wrong kind with 415 (FastAPI itself would read any
body it does not expect as nothing, and answer with a validation error about missing fields)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from common.errors import APIError

MULTIPART = "multipart/form-data"  # for Form(media_type=...): a form model with a file is read (and documented) as one


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def json_only(request: Request) -> None:
    """A JSON body, or no Content-Type at all; a form (``curl -d`` without ``-H``) or anything else is 415."""
    media_type = _media_type(request)
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        shown = request.headers["content-type"][:100]
        raise APIError(
            415,
            f"Content-Type must be application/json (got {shown}): send the request as a JSON body.",
            code="unsupported_media_type",
        )


def form_only(file_field: str) -> Callable[[Request], None]:
    """A multipart form, whose audio is the field ``file_field``; anything else is 415."""

    def check(request: Request) -> None:
        if _media_type(request) != MULTIPART:
            shown = request.headers.get("content-type", "none")[:100]
            raise APIError(
                415,
                f"Content-Type must be multipart/form-data (got {shown}): send the audio as the form field "
                f"'{file_field}'.",
                code="unsupported_media_type",
            )

    return check
