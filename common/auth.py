"""Bearer secrets in front of an app: the gateway's API keys, the backends' BACKEND_TOKEN.

Plain ASGI in front of everything, so a refused request is answered before any of its body is
read, and a refused WebSocket before the upgrade (HTTP 401 where the server supports ASGI's
denial response; else the handshake is closed with 1008). Browsers cannot set headers on a
WebSocket, so there a key may also come as the subprotocol ``openai-insecure-api-key.<key>``, as
OpenAI's browser clients send it. Secrets are compared in constant time, and logs name a key only
by its tag (the first 8 hex digits of its SHA-256), never by the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import APIError

KEY_SUBPROTOCOL = "openai-insecure-api-key."
KEY_TAG_STATE = "key_tag"  # where the accepted key's tag is left for the access log: scope["state"]

Check = Callable[[Scope, str], "str | None"]
"""(scope, presented secret) -> the tag of the key it matches, or None to refuse."""


def key_tag(key: str) -> str:
    """A short, non-reversible name for a secret, for logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def presented_secret(scope: Scope) -> str | None:
    """The bearer secret of a request: ``Authorization: Bearer <secret>``, or on a WebSocket the
    ``openai-insecure-api-key.<secret>`` subprotocol."""
    if scope["type"] == "websocket":
        for protocol in scope.get("subprotocols", ()):
            if protocol.startswith(KEY_SUBPROTOCOL):
                return protocol[len(KEY_SUBPROTOCOL) :]
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else None
    return None


class KeyRing:
    """The accepted secrets. Every one is compared with what was presented, so the time a check
    takes says nothing about which key matched or how much of one."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [(key.encode(), key_tag(key)) for key in keys]

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, secret: str) -> str | None:
        presented = secret.encode()
        found = None
        for key, tag in self._keys:
            if hmac.compare_digest(presented, key):
                found = tag
        return found


async def refuse(scope: Scope, receive: Receive, send: Send, error: APIError) -> None:
    """Answer an HTTP request, or a WebSocket before its upgrade, with ``error``: as an HTTP
    response where the server supports ASGI's denial response, else by closing the handshake
    (1008 for a refused key or origin, 1011 otherwise)."""
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        await error.response()(scope, receive, send)
    else:
        code = 1008 if error.status in (401, 403) else 1011
        await send({"type": "websocket.close", "code": code, "reason": error.message[:120]})


class BearerAuthMiddleware:
    """Requests ``protects`` covers need a secret ``check`` accepts; others get ``error``."""

    def __init__(self, app: ASGIApp, *, check: Check, protects: Callable[[Scope], bool], error: APIError) -> None:
        self.app = app
        self._check = check
        self._protects = protects
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._protects(scope):
            secret = presented_secret(scope)
            tag = self._check(scope, secret) if secret else None
            if tag is None:
                await refuse(scope, receive, send, self._error)
                return
            scope.setdefault("state", {})[KEY_TAG_STATE] = tag
        await self.app(scope, receive, send)


OPEN_BACKEND_PATHS = frozenset({"/healthz", "/readyz"})


def backend_token_middleware(app: ASGIApp, token: str) -> BearerAuthMiddleware:
    """A backend's guard: every route but the health checks needs BACKEND_TOKEN, which only the
    gateway holds."""
    ring = KeyRing([token])
    return BearerAuthMiddleware(
        app,
        check=lambda _, secret: ring.match(secret),
        protects=lambda scope: scope["path"] not in OPEN_BACKEND_PATHS,
        error=APIError(
            401,
            "This service answers only the gateway: send 'Authorization: Bearer <BACKEND_TOKEN>'. "
            "Clients use the gateway's public API.",
            code="invalid_backend_token",
            headers={"WWW-Authenticate": "Bearer"},
        ),
    )
