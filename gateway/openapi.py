"""The OpenAPI document: shared error responses, hand-written audio request bodies, clean-up.

The audio routes read the raw request stream (for speed and to stream uploads), so FastAPI cannot
infer their bodies; each route declares its body with ``openapi_extra`` using the pieces here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from common.api_types import (
    ConsentUpdate,
    SpeechRequest,
    VoiceConsentDeletedResource,
    VoiceConsentListResource,
    VoiceConsentResource,
    VoiceDeletedResource,
    VoiceResource,
)
from common.errors import ERROR_RESPONSE_SCHEMA

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
SPEECH_REF = {"$ref": "#/components/schemas/SpeechRequest"}
# Request bodies (validation) and responses (serialization) documented as components.
COMPONENT_MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    (SpeechRequest, "validation"),
    (ConsentUpdate, "validation"),
    (VoiceResource, "serialization"),
    (VoiceDeletedResource, "serialization"),
    (VoiceConsentResource, "serialization"),
    (VoiceConsentListResource, "serialization"),
    (VoiceConsentDeletedResource, "serialization"),
)

_ERROR_DESCRIPTIONS = {
    400: "Invalid request: the message names the parameter (`param`) and what is accepted.",
    404: "Not found (no such route, model, voice or consent).",
    408: "The request body stalled (REQUEST_BODY_TIMEOUT_SECONDS).",
    413: "Request body too large.",
    415: "Unsupported Content-Type.",
    429: "The backend's queue is full; retry after `Retry-After` seconds.",
    500: "Internal error.",
    502: "The backend could not be reached.",
    503: "The model is unavailable (e.g. out of GPU memory, or a needed token/model missing).",
    504: "The backend timed out.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error envelope."""
    return {
        status: {"description": _ERROR_DESCRIPTIONS[status], "content": {"application/json": {"schema": ERROR_REF}}}
        for status in statuses
    }


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    """An OpenAPI ``200`` entry whose JSON body is ``model``."""
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def multipart_body(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """An ``openapi_extra`` request body for a multipart form read from the raw stream."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _component_schemas() -> dict[str, Any]:
    # One pass over all models, so models nested in others (CustomVoiceRef in SpeechRequest) get
    # components of their own that the references point at.
    _, schemas = models_json_schema(COMPONENT_MODELS, ref_template="#/components/schemas/{model}")
    return schemas["$defs"]


def install_openapi(app: FastAPI, *, bearer_auth: bool = False) -> None:
    """Generate the document once, with our components and without FastAPI's unreachable 422s.

    ``bearer_auth``: the /v1 routes need the API key (Swagger UI then shows "Authorize").
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ErrorResponse"] = ERROR_RESPONSE_SCHEMA
            components.update(_component_schemas())
            # 422 never reaches a client (it becomes a 400 envelope), so it is not documented.
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            if bearer_auth:
                schema["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
                for route, path in schema.get("paths", {}).items():
                    for operation in path.values() if route.startswith("/v1/") else ():
                        operation["security"] = [{"apiKey": []}]
                        operation.setdefault("responses", {})["401"] = {
                            "description": "Missing or wrong API key.",
                            "content": {"application/json": {"schema": ERROR_REF}},
                        }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
