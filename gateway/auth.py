"""Who may call the public API: API keys, and the browser origins CORS lets in.

With ``API_KEY``/``API_KEY_FILE`` set, every /v1 request (and /metrics) needs one of the keys as
``Authorization: Bearer <key>`` (``common.auth``); documentation, the playground and health routes
stay open, and so do the voice and speech-model lists with PUBLIC_LISTINGS (Open WebUI asks for
them without a key). A realtime client secret (``ek_...``) opens the realtime WebSocket only.

With ``CORS_ALLOW_ORIGINS`` set, Starlette's CORS middleware answers browsers' preflight requests for
those origins (outside the key check: a preflight carries no key), and the realtime
WebSocket, which CORS does not cover, checks ``Origin`` itself (``origin_allowed``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Scope

from common.auth import BearerAuthMiddleware, KeyRing
from common.errors import APIError
from gateway.client_secrets import PREFIX as CLIENT_SECRET_PREFIX
from gateway.client_secrets import ClientSecrets
from gateway.settings import Settings

PROTECTED_PREFIXES = ("/v1/", "/metrics")
REALTIME_PATH = "/v1/realtime"
# Headers a browser page may read from our answers (besides the CORS-safelisted ones).
EXPOSED_HEADERS = ["x-request-id", "retry-after", "x-should-retry"]


# The read-only lists Open WebUI asks for without a key (PUBLIC_LISTINGS=true opens them).
LISTINGS = frozenset({"/v1/audio/voices", "/v1/audio/models"})


def _protects(settings: Settings) -> Callable[[Scope], bool]:
    def protected(scope: Scope) -> bool:
        path = scope["path"]
        if settings.public_listings and path in LISTINGS and scope.get("method") in ("GET", "HEAD"):
            return False
        return path.startswith(PROTECTED_PREFIXES)

    return protected


def install_access(app: FastAPI, settings: Settings, client_secrets: ClientSecrets) -> None:
    """The key check, then CORS outside it (add_middleware wraps what was added before)."""
    ring = KeyRing(settings.api_keys)

    def check(scope: Scope, secret: str) -> str | None:
        if not secret.startswith(CLIENT_SECRET_PREFIX):
            return ring.match(secret)
        # An ephemeral client secret opens the realtime WebSocket, and nothing else.
        if scope["type"] != "websocket" or scope["path"] != REALTIME_PATH:
            return None
        claims = client_secrets.verify(secret)
        return None if claims is None else f"ek:{claims.id[:8]}"

    if ring:
        app.add_middleware(
            BearerAuthMiddleware,
            check=check,
            protects=_protects(settings),
            error=APIError(
                401,
                "Incorrect or missing API key: send it as 'Authorization: Bearer <API_KEY>' "
                "(the OpenAI SDKs' api_key).",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            ),
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            # Authorization and Content-Type, and whatever else a page's client sends (the OpenAI SDKs add
            # their own x-stainless-* headers): the origin is what is checked.
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )


def origin_allowed(scope: Scope, settings: Settings) -> bool:
    """Whether a WebSocket handshake may go on: no list, no Origin (not a browser), the page's own
    origin (the playground), or an origin on CORS_ALLOW_ORIGINS."""
    allowed = settings.cors_origins
    headers = dict(scope["headers"])
    origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
    if not allowed or not origin or "*" in allowed or origin in allowed:
        return True
    return urlsplit(origin).netloc == headers.get(b"host", b"").decode("latin-1")
