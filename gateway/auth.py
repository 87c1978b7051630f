"""Optional API key: with ``API_KEY`` set, every /v1 request needs ``Authorization: Bearer <key>``.

Plain ASGI in front of everything, so a refused request is answered before any of its body is
read, and a refused WebSocket before the upgrade (HTTP 401, where the server supports ASGI's
denial response; else the handshake is closed with 1008). Browsers cannot set headers on a
WebSocket, so there the key may also come as the subprotocol ``openai-insecure-api-key.<key>``,
as OpenAI's browser clients send it. Documentation and health routes stay open.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import APIError

PROTECTED_PREFIX = "/v1/"
KEY_SUBPROTOCOL = "openai-insecure-api-key."


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket") and scope["path"].startswith(PROTECTED_PREFIX) and not self._allowed(scope):
            error = APIError(
                401,
                "Incorrect or missing API key: send it as 'Authorization: Bearer <API_KEY>' "
                "(the OpenAI SDKs' api_key).",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            if kind == "http" or "websocket.http.response" in scope.get("extensions", {}):
                await error.response()(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "invalid_api_key"})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        if scope["type"] == "websocket":
            for protocol in scope.get("subprotocols", ()):
                if protocol.startswith(KEY_SUBPROTOCOL):
                    return hmac.compare_digest(protocol[len(KEY_SUBPROTOCOL) :].encode(), self._expected)
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)
        return False
