"""The public model ids, which backend serves each, and the /v1/models documents.

This is the one place the gateway maps a public model id to a backend. Which real model a public
id runs is the backend's setting (ASR: ``WHISPERX_MODEL``; TTS: ``TTS_ENGINE`` and ``COQUI_MODEL``),
so the public names stay stable when an operator swaps models. The backends say what they serve in
their ``/healthz`` (``engine``, ``serves``); the catalog shows that in ``owned_by`` and
``description``, so a client can tell e.g. the embedded Piper voice from XTTS v2.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from common.api_types import ASR_MODELS, TTS_MODELS

BackendName = Literal["asr", "tts"]

# A fixed creation time (2025-11-25T00:00:00Z): model ids are aliases, not artefacts with a date.
CREATED = 1764028800
DEFAULT_ENGINES: dict[BackendName, str] = {"asr": "whisperx", "tts": "coqui"}

BACKEND_OF: dict[str, BackendName] = {
    **dict.fromkeys(ASR_MODELS, "asr"),
    **dict.fromkeys(TTS_MODELS, "tts"),
}


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="The engine that serves this id (whisperx, coqui or piper).")
    description: str | None = Field(
        default=None, description="What the backend reports it serves for this id, once it has answered."
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class SpeechModel(BaseModel):
    id: str = Field(description="What to send as `model` to /v1/audio/speech.")
    name: str


class SpeechModelList(BaseModel):
    """GET /v1/audio/models (extension): the speech models, as Open WebUI's model picker reads them."""

    models: list[SpeechModel]


class Catalog:
    """The rendered /v1/models documents; re-rendered only when a backend reports a change."""

    def __init__(self) -> None:
        self._served: dict[BackendName, tuple[str, str | None]] = {
            backend: (engine, None) for backend, engine in DEFAULT_ENGINES.items()
        }
        self._render()

    def update(self, backend: BackendName, engine: str, serves: str | None) -> None:
        if self._served[backend] != (engine, serves):
            self._served[backend] = (engine, serves)
            self._render()

    def _render(self) -> None:
        models = [
            Model(id=model_id, created=CREATED, owned_by=self._served[b][0], description=self._served[b][1])
            for model_id, b in BACKEND_OF.items()
        ]
        # Rendered once per change: /v1/models is on the hot path.
        self.list_json: bytes = ModelList(data=models).model_dump_json().encode()
        speech = [
            SpeechModel(id=m.id, name=f"{m.id} ({m.description})" if m.description else m.id)
            for m in models
            if BACKEND_OF[m.id] == "tts"
        ]
        self.speech_json: bytes = SpeechModelList(models=speech).model_dump_json().encode()
        self.model_json: dict[str, bytes] = {m.id: m.model_dump_json().encode() for m in models}
