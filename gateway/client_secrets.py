"""Ephemeral client secrets (``ek_...``) for the realtime WebSocket: what a browser page holds
instead of the API key (OpenAI's ``POST /v1/realtime/client_secrets``).

A secret carries the session configuration it was minted for and its expiry, signed (HMAC-SHA256)
with a key derived from BACKEND_TOKEN, so every gateway replica that shares the token accepts a
secret any of them minted, and a gateway restart keeps them valid until they expire. Without a
BACKEND_TOKEN the key is random per process: a restart forgets the secrets. A secret opens
realtime WebSockets only (as many as the client likes until it expires, as OpenAI's do); every
other route refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from common.realtime_config import decode_object, encode_object, session_header

PREFIX = "ek_"


@dataclass(frozen=True)
class Claims:
    id: str
    expires_at: int
    session: dict[str, Any]  # as the client gave it (validated when minted)
    legacy: bool  # minted by the beta route: the session is in the beta shape

    def header(self) -> str:
        """The configuration for the ASR service, as one header value."""
        return session_header(self.session, legacy=self.legacy)


class ClientSecrets:
    def __init__(self, backend_token: str | None) -> None:
        token = backend_token.encode() if backend_token else os.urandom(32)
        self._key = hmac.new(token, b"speech-stack realtime client secrets", hashlib.sha256).digest()

    def mint(self, session: dict[str, Any], *, legacy: bool, seconds: int) -> tuple[str, Claims]:
        claims = Claims(secrets.token_hex(12), int(time.time()) + seconds, session, legacy)
        payload = encode_object({"id": claims.id, "exp": claims.expires_at, "session": session, "legacy": legacy})
        return f"{PREFIX}{payload}.{self._sign(payload)}", claims

    def verify(self, value: str) -> Claims | None:
        """The claims of a secret this server signed and that has not expired; None otherwise."""
        payload, _, signature = value.removeprefix(PREFIX).partition(".")
        if not value.startswith(PREFIX) or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = decode_object(payload)
            claims = Claims(str(data["id"]), int(data["exp"]), dict(data["session"]), bool(data["legacy"]))
        except (ValueError, KeyError, TypeError):
            return None
        return claims if claims.expires_at > time.time() else None

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
