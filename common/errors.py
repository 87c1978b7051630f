"""The OpenAI error envelope, shared by the gateway and both backends.

Every error a client (or the gateway) sees has the shape
``{"error": {"message", "type", "param", "code"}}`` with the matching HTTP status. An error no retry
can fix (a capability not configured, a model that cannot be obtained) is marked ``permanent``: it
carries ``x-should-retry: false``, which both OpenAI SDKs honour instead of retrying a 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from pydantic_core import ErrorDetails, PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

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


class ErrorObject(BaseModel):
    message: str = Field(description="What was wrong, and what is accepted.")
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(description="The request parameter at fault, if any.")
    code: str | None = Field(description="A machine-readable reason, e.g. `model_not_found`.")


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: every error answer has this shape."""

    error: ErrorObject


class APIError(StarletteHTTPException):
    """An error that reaches the client as an OpenAI envelope with ``status``. An HTTPException,
    so that FastAPI passes it on unchanged when it is raised while a body is being read (a stalled
    upload, a body too large) rather than calling it a parse error."""

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
        super().__init__(status, message)
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


def rejected(code: str, message: str, param: str | None = None) -> PydanticCustomError:
    """Raised by a model's validator: the client gets ``message`` as it is, with the OpenAI ``code``
    (validation_error below turns it into the 400). ``param`` names the field when the validator is
    the model's own, whose errors carry no field."""
    context = {"message": message, "code": code} | ({"param": param} if param else {})
    return PydanticCustomError(code, "{message}", context)


def _param_from_loc(loc: Sequence[Any]) -> str | None:
    # FastAPI locations look like ("body", "speed") or ("body",) for the whole body; a model's own
    # (after-)validator adds nothing to the location.
    # A list item's index is left out: the parameter is the list (``timestamp_granularities[]``).
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form") and not isinstance(p, int)]
    return ".".join(parts) or None


def validation_error(errors: Sequence[ErrorDetails | dict[str, Any]]) -> APIError:
    """The 400 an OpenAI client expects for the first of pydantic's (or FastAPI's 422) errors."""
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    param = _param_from_loc(first.get("loc", ()))
    context = first.get("ctx") or {}
    if "code" in context and "message" in context:  # ours: a complete message (see rejected())
        return APIError(400, context["message"], param=context.get("param", param), code=context["code"])
    if first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'." if param else "Missing request body."
        return APIError(400, message, param=param, code="missing_required_parameter")
    if first.get("type") == "json_invalid":
        return APIError(400, "The request body is not valid JSON.", param=None, code="invalid_json")
    reason = first.get("msg", "invalid request").removeprefix("Value error, ")
    given = first.get("input")
    if isinstance(given, str | int | float) and not isinstance(given, bool) and len(str(given)) <= 40:
        reason += f", got {given!r}"  # a short scalar helps find the typo; long text stays out of the message
    where = f"'{param}'" if param else "the request body"
    return APIError(400, f"Invalid value for {where}: {reason}.", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave ``app`` in the OpenAI envelope; 422 never reaches a client."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc.errors()).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.detail else "HTTP error"
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found: no such route. See /docs for the routes this API serves."
        if exc.status_code == 413 and (limit := request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)) is not None:
            message = f"The request body is larger than {limit} bytes, the most {request.url.path} accepts."
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
