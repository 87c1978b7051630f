"""Whether an app's routes take a request, asked the way its router asks them (FastAPI keeps
included routers as routes of their own, so a list of route paths would miss theirs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: Starlette, scope: Mapping[str, Any]) -> list[str]:
    """The methods the app serves at this request's path (a 405's Allow header)."""
    return [method for method in HTTP_METHODS if _takes(app, {**scope, "method": method})]


def _takes(app: Starlette, scope: Mapping[str, Any]) -> bool:
    return any(route.matches(dict(scope))[0] is Match.FULL for route in app.router.routes)
