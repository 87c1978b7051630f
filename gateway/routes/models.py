"""GET /v1/models and /v1/models/{model_id} (OpenAI list shape), served from the catalog."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from common.errors import APIError
from gateway.catalog import Model, ModelList, SpeechModelList
from gateway.openapi import error_responses

router = APIRouter(tags=["models"])


@router.get("/v1/models", summary="List models", response_model=ModelList)
async def list_models(request: Request) -> Response:
    return Response(request.app.state.catalog.list_json, media_type="application/json")


@router.get("/v1/models/{model_id}", summary="Retrieve a model", response_model=Model, responses=error_responses(404))
async def retrieve_model(model_id: str, request: Request) -> Response:
    known = request.app.state.catalog.model_json
    body = known.get(model_id)
    if body is None:
        raise APIError(
            404,
            f"The model '{model_id}' does not exist. Available: {', '.join(known)}.",
            param="model",
            code="model_not_found",
        )
    return Response(body, media_type="application/json")


@router.get(
    "/v1/audio/models",
    summary="List speech models",
    description='Extension: the models /v1/audio/speech takes, as `{"models": [{"id", "name"}]}` (what Open '
    "WebUI's TTS model picker reads).",
    response_model=SpeechModelList,
    tags=["audio"],
)
async def list_speech_models(request: Request) -> Response:
    return Response(request.app.state.catalog.speech_json, media_type="application/json")
