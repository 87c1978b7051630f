"""GET /playground: one static page to speak, transcribe, record, go live and clone a voice.

The page (``gateway/playground/``: HTML, CSS and plain ES modules; no framework, no build step)
calls the public API like any client, with relative URLs so it works under a proxy's sub-path. It
is open like /docs; its API calls carry the key the person typed, kept in the tab's session storage.

``/playground/features.json`` tells the page what depends on this server's settings:
``api_key_required`` when API keys are set (the page asks for one before it loads the voices), and
``consent_statements``, the sentences a consent recording must say, per language. Every section
is always there; what an engine cannot do (Piper cannot clone) is said by the API, in the section.

Files are revalidated on every load (``Cache-Control: no-cache`` with an ETag, answered 304 when
unchanged), so an upgraded gateway never runs a stale page. Their Content-Security-Policy lets
the page load from and connect to its own origin only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.consent import STATEMENTS

ASSETS = Path(__file__).resolve().parent.parent / "playground"
CACHE_CONTROL = "no-cache"
# Its own origin only ('self' covers same-origin ws:/wss:); blob: for recorded and synthesized audio.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


class PlaygroundFiles(StaticFiles):
    """Starlette's static files (types, ETag, 304) with the playground's cache and content policies."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


files = PlaygroundFiles(directory=ASSETS)


@router.get("/playground")
async def playground(request: Request) -> Response:
    return await files.get_response("index.html", request.scope)


@router.get("/playground/")
async def playground_slash(request: Request) -> RedirectResponse:
    # The page's relative URLs assume /playground; /playground/ would resolve them one level down.
    return RedirectResponse(f"{request.scope.get('root_path', '').rstrip('/')}/playground")


@router.get("/playground/features.json")
async def features(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "api_key_required": bool(request.app.state.settings.api_keys),
            # What a consent recording must say, per language: the page shows the one to read.
            "consent_statements": STATEMENTS,
        },
        headers={"Cache-Control": "no-store"},
    )


def install_playground(app: FastAPI) -> None:
    app.include_router(router)  # before the mount, which would otherwise take /playground/features.json
    app.mount("/playground", files, name="playground")
