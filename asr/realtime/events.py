"""The realtime protocol's messages: client events in, OpenAI's server events out.

Every event is one JSON object in one text frame. Errors use OpenAI's ``error`` event, whose
``error`` object is the API's error envelope plus the ``event_id`` of the client event that caused
it; a transcription that fails is reported on its item instead
(``conversation.item.input_audio_transcription.failed``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from common.errors import APIError

CLIENT_EVENTS = (
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's (``item_…``, ``sess_…``, ``event_…``)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def server_event(type: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": new_id("event"), "type": type, **fields}


def decode_client_event(text: str) -> dict[str, Any]:
    """The JSON object in ``text``; APIError(400) when it is not one."""
    try:
        event = json.loads(text)
    except ValueError:
        raise APIError(
            400, "The message is not valid JSON: send each client event as one JSON object.", code="invalid_json"
        ) from None
    if not isinstance(event, dict):
        raise APIError(400, "The message is not a JSON object: send each client event as one.", code="invalid_json")
    return event


def check_client_event_type(event: dict[str, Any]) -> str:
    """The event's ``type``; APIError(400) unless a transcription session knows it."""
    kind = event.get("type")
    if kind not in CLIENT_EVENTS:
        supported = ", ".join(f"'{name}'" for name in CLIENT_EVENTS)
        raise APIError(
            400,
            f"Invalid value: {kind!r} is not a client event of a transcription session. Supported: {supported}.",
            param="type",
            code="invalid_value",
        )
    return kind


def client_event_id(event: dict[str, Any] | None) -> str | None:
    event_id = (event or {}).get("event_id")
    return event_id if isinstance(event_id, str) else None


def error_event(exc: APIError, event_id: str | None = None) -> dict[str, Any]:
    """OpenAI's ``error`` event; ``event_id``: the client event it answers, if it had one."""
    return server_event("error", error={**exc.body()["error"], "event_id": event_id})


def failed_event(item_id: str, exc: APIError) -> dict[str, Any]:
    """A turn whose transcription failed (model unavailable, out of memory, server busy)."""
    error = {key: value for key, value in exc.body()["error"].items() if value is not None}
    return server_event(
        "conversation.item.input_audio_transcription.failed", item_id=item_id, content_index=0, error=error
    )
