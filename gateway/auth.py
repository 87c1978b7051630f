"""Optional API key: with ``API_KEY`` set, every /v1 request needs ``Authorization: Bearer <key>``.

Plain ASGI in front of everything, so a refused request is answered before any of its body is
read. Documentation and health routes stay open.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import APIError

PROTECTED_PREFIX = "/v1/"


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX) and not self._allowed(scope):
            error = APIError(
                401,
                "Incorrect or missing API key: send it as 'Authorization: Bearer <API_KEY>' "
                "(the OpenAI SDKs' api_key).",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)
        return False
