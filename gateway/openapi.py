"""The OpenAPI document's shared pieces: the error responses every route documents, and the schema
of the forms that stream (FastAPI documents every other body from the route's own model).

An upload is read as a stream, so FastAPI cannot see its form model; ``upload_body`` declares it
with ``openapi_extra`` and ``install_openapi`` adds those models (with what they nest) to the
document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, UploadFile
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import models_json_schema

from common.api_types import FormModel
from common.errors import ErrorResponse

_ERROR_DESCRIPTIONS = {
    400: "Invalid request: the message names the parameter (`param`) and what is accepted.",
    401: "Missing or wrong API key.",
    404: "Not found (no such route, model, voice or consent).",
    408: "The request body stalled (REQUEST_BODY_TIMEOUT_SECONDS).",
    413: "Request body too large.",
    415: "Unsupported Content-Type.",
    429: "The backend's queue is full; retry after `Retry-After` seconds.",
    502: "The backend could not be reached.",
    503: "The model is unavailable (e.g. out of GPU memory, or a needed token/model missing).",
    504: "The backend timed out.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error envelope: the statuses a route gives, and ``default``
    for any other (which is also what keeps FastAPI from documenting a 422 no client ever sees)."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]} for status in statuses
    }
    responses["default"] = {"model": ErrorResponse, "description": "Any other error, in the same envelope."}
    return responses


_STREAMED: dict[str, type[BaseModel]] = {}


def upload_body(form: type[FormModel], file_description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a streamed upload: ``form``'s fields and then (last, so that
    Swagger UI's upload streams straight through) the file."""
    name = form.__name__.removesuffix("Form") + "Request"
    _STREAMED[name] = create_model(
        name,
        __base__=form,
        __doc__=form.__doc__,
        file=(UploadFile, Field(description=file_description)),
    )
    lists = [info.alias for info in form.model_fields.values() if info.alias and info.alias.endswith("[]")]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"$ref": f"#/components/schemas/{name}"},
                    "encoding": {alias: {"style": "form", "explode": True} for alias in lists},
                }
            },
        }
    }


def install_openapi(app: FastAPI) -> None:
    """FastAPI's document, with the streamed forms' models among its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, defs = models_json_schema(
                [(model, "validation") for model in _STREAMED.values()], ref_template="#/components/schemas/{model}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
