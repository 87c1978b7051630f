"""/docs, /redoc and /openapi.json: local assets only, and complete audio route schemas."""

from __future__ import annotations

import re

import httpx
import pytest

from common.api_types import ASR_MODELS, SPEECH_FORMATS, TRANSCRIPTION_FORMATS, TRANSLATION_FORMATS
from fixtures.servers import Server


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(gateway: Server, page: str) -> None:
    response = httpx.get(f"{gateway.url}{page}")
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        fetched = httpx.get(f"{gateway.url}{asset}")
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 1000 or asset.endswith(".json"), asset
    assert "/openapi.json" in html


@pytest.fixture(scope="module")
def openapi(gateway: Server) -> dict:
    response = httpx.get(f"{gateway.url}/openapi.json")
    assert response.status_code == 200
    return response.json()


def _multipart(openapi: dict, path: str) -> dict:
    return openapi["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]


def _resolve(openapi: dict, schema: dict) -> dict:
    """A schema, or the component its $ref names."""
    reference = schema.get("$ref", "")
    return openapi["components"]["schemas"][reference.rsplit("/", 1)[-1]] if reference else schema


def test_every_public_route_is_documented(openapi: dict) -> None:
    assert {
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/audio/speech",
        "/v1/audio/voices",
        "/healthz",
        "/readyz",
    } <= set(openapi["paths"])


def test_transcription_form_fields(openapi: dict) -> None:
    body = _multipart(openapi, "/v1/audio/transcriptions")
    schema = _resolve(openapi, body["schema"])
    props = schema["properties"]
    assert set(schema["required"]) == {"file", "model"}
    assert list(props)[-1] == "file"  # last: Swagger UI's upload then streams straight through
    assert props["file"] == {**props["file"], "type": "string", "contentMediaType": "application/octet-stream"}
    assert props["model"]["enum"] == list(ASR_MODELS)
    assert props["response_format"]["enum"] == list(TRANSCRIPTION_FORMATS)
    assert props["response_format"]["default"] == "json"
    assert props["timestamp_granularities[]"]["type"] == "array"
    assert props["timestamp_granularities[]"]["items"]["enum"] == ["segment", "word"]
    assert props["advanced"] == {**props["advanced"], "type": "boolean", "default": False}
    assert props["diarize"]["default"] is True
    assert props["stream"]["type"] == "boolean"
    assert props["temperature"]["maximum"] == 1
    assert {"type": "integer", "minimum": 1} in props["min_speakers"]["anyOf"]
    assert "en" in props["language"]["enum"]
    assert body["encoding"]["timestamp_granularities[]"]["explode"] is True
    for field in ("include[]", "keywords[]", "languages[]", "known_speaker_names[]", "known_speaker_references[]"):
        assert props[field]["type"] == "array" and body["encoding"][field]["explode"] is True
    chunking = {
        _resolve(openapi, option).get("title", option.get("const")) for option in props["chunking_strategy"]["anyOf"]
    }
    assert {"auto", "VadConfig"} <= chunking


def test_translation_form_fields(openapi: dict) -> None:
    props = _resolve(openapi, _multipart(openapi, "/v1/audio/translations")["schema"])["properties"]
    assert props["response_format"]["enum"] == list(TRANSLATION_FORMATS)
    assert "advanced" not in props


def test_audio_responses_and_error_envelope(openapi: dict) -> None:
    transcription = openapi["paths"]["/v1/audio/transcriptions"]["post"]["responses"]
    assert {"application/json", "text/plain", "text/event-stream"} <= set(transcription["200"]["content"])
    speech = openapi["paths"]["/v1/audio/speech"]["post"]
    audio = speech["responses"]["200"]["content"]
    assert set(audio) == {
        "audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm", "text/event-stream"
    }  # fmt: skip
    assert audio["audio/mpeg"]["schema"] == {"type": "string", "format": "binary"}
    for route in (transcription, speech["responses"]):
        for status in ("400", "413", "502", "504"):
            assert route[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
        assert "422" not in route
        assert route["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
    error = _resolve(openapi, openapi["components"]["schemas"]["ErrorResponse"]["properties"]["error"])
    assert set(error["required"]) == {"message", "type", "param", "code"}
    assert not {"HTTPValidationError", "ValidationError"} & set(openapi["components"]["schemas"])


def test_speech_body_schema(openapi: dict) -> None:
    body = openapi["paths"]["/v1/audio/speech"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/SpeechRequest"}
    schema = openapi["components"]["schemas"]["SpeechRequest"]
    assert schema["examples"][0]["model"] == "tts-1"
    props = schema["properties"]
    assert set(schema["required"]) == {"model", "input", "voice"}
    assert props["model"]["enum"] == ["tts-1", "tts-1-hd", "coqui-tts"]
    assert props["response_format"]["enum"] == list(SPEECH_FORMATS)
    assert props["response_format"]["default"] == "mp3"
    assert (props["speed"]["minimum"], props["speed"]["maximum"], props["speed"]["default"]) == (0.25, 4.0, 1.0)
    assert props["input"]["maxLength"] == 4096
    assert props["stream"]["type"] == "boolean"
