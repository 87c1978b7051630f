"""Server-sent events as the OpenAI SDKs read them (transcription and speech streams)."""

from __future__ import annotations

import json
from typing import Any


def sse(event: dict[str, Any]) -> bytes:
    """One event: ``data: <json>`` and a blank line."""
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
