"""The OpenAI error envelope, shared by the gateway and both backends.

Every error a client (or the gateway) sees has the shape
``{"error": {"message", "type", "param", "code"}}`` with the matching HTTP status. An error no retry
can fix (a capability not configured, a model that cannot be obtained) is marked ``permanent``: it
carries ``x-should-retry: false``, which both OpenAI SDKs honour instead of retrying a 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.disconnect import ClientGone
from common.routing import allowed_methods

log = logging.getLogger(__name__)

SHOULD_RETRY_HEADER = "x-should-retry"


def error_type_for(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def envelope(
    message: str, *, status: int, param: str | None = None, code: str | None = None, type: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type or error_type_for(status),
            "param": param,
            "code": code,
        }
    }


class APIError(Exception):
    """An error that reaches the client as an OpenAI envelope with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        if permanent:
            self.headers[SHOULD_RETRY_HEADER] = "false"

    def body(self) -> dict[str, Any]:
        return envelope(self.message, status=self.status, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    """A 400 naming the offending parameter."""
    return APIError(400, message, param=param, code=code)


def _param_from_loc(loc: tuple[Any, ...]) -> str | None:
    # FastAPI locations look like ("body", "speed") or ("body",) for the whole body.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> APIError:
    """Turn FastAPI's 422 into the 400 an OpenAI client expects."""
    first = exc.errors()[0] if exc.errors() else {}
    param = _param_from_loc(tuple(first.get("loc", ())))
    reason = first.get("msg", "invalid request")
    if first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'." if param else "Missing request body."
        return APIError(400, message, param=param, code="missing_required_parameter")
    if first.get("type") == "json_invalid":
        return APIError(400, "The request body is not valid JSON.", param=None, code="invalid_json")
    where = f"'{param}'" if param else "the request body"
    return APIError(400, f"Invalid value for {where}: {reason}.", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave ``app`` in the OpenAI envelope; 422 never reaches a client."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.detail else "HTTP error"
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found: no such route. See /docs for the routes this API serves."
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Every method of the path, as RFC 9110 asks: Starlette names only the first route's,
            # and list and create (or get, rename and delete) are separate routes.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return JSONResponse(envelope(message, status=exc.status_code, code=code), exc.status_code, headers)

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, exc: ClientGone) -> Response:
        # Nobody reads this answer; the status is for the access log (nginx's "client closed request").
        log.info("client disconnected; its request was cancelled")
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return internal_error(exc).response()


def internal_error(exc: Exception) -> APIError:
    """The 500 for an exception nothing else handled (log it where it is caught)."""
    return APIError(500, f"Internal server error: {type(exc).__name__}", code="internal_error")


ERROR_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string", "example": "invalid_request_error"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
