"""The public model ids, which backend serves each, and the /v1/models documents.

This is the one place the gateway maps a public model id to a backend. Which real model a public
id runs is the backend's setting (ASR: ``WHISPERX_MODEL``, TTS: ``COQUI_MODEL``/``TTS_ENGINE``), so
the public names stay stable when an operator swaps models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from common.api_types import ASR_MODELS, TTS_MODELS

Backend = Literal["asr", "tts"]

# A fixed creation time (2025-11-25T00:00:00Z): model ids are aliases, not artefacts with a date.
CREATED = 1764028800
OWNERS: dict[Backend, str] = {"asr": "whisperx", "tts": "coqui"}


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


BACKEND_OF: dict[str, Backend] = {
    **dict.fromkeys(ASR_MODELS, "asr"),
    **dict.fromkeys(TTS_MODELS, "tts"),
}

MODELS: dict[str, Model] = {
    model_id: Model(id=model_id, created=CREATED, owned_by=OWNERS[backend]) for model_id, backend in BACKEND_OF.items()
}

# Rendered once: the list never changes while the process runs.
MODEL_LIST_JSON: bytes = ModelList(data=list(MODELS.values())).model_dump_json().encode()
MODEL_JSON: dict[str, bytes] = {model_id: model.model_dump_json().encode() for model_id, model in MODELS.items()}
