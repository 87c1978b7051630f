"""A realtime transcription session's configuration: what ``session.update`` (GA) and the beta
``transcription_session.update`` may set, and how the effective configuration is reported back.
Shared: the ASR service runs sessions with it, and the gateway validates the configuration a client
secret is bound to (``POST /v1/realtime/client_secrets``).

Updates are partial (only the fields present change; ``turn_detection: null`` turns server VAD
off, so the client commits turns itself) and atomic (an update with one bad field changes nothing
and gets one error naming it). Unknown fields are refused as OpenAI refuses them
(``unknown_parameter``). Fields OpenAI defines that do nothing for a transcription session (the
response settings of server VAD, ``delay``) are accepted without effect; the configuration echoed
in ``session.updated`` shows what is in effect.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.api_types import (
    ASR_MODELS,
    MAX_KEYWORDS,
    Keyword,
    Language,
    LanguageCode,
    TranscriptionForm,
    accepted_model,
)
from common.errors import APIError, invalid, validation_error

Format = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
PCM_RATE = 24000  # OpenAI's only rate for audio/pcm (16-bit little-endian mono)
G711_RATE = 8000
LEGACY_FORMATS: dict[str, Format] = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}
MAX_MS = 60_000
LOGPROBS = "item.input_audio_transcription.logprobs"
NoiseReduction = Literal["near_field", "far_field"]


@dataclass(frozen=True)
class ServerVad:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None  # no speech for this long commits the (silent) audio as a turn


@dataclass(frozen=True)
class SessionConfig:
    """The effective configuration (OpenAI's defaults for a transcription session)."""

    format: Format = "audio/pcm"
    model: str = "whisper-1"
    language: str | None = None
    languages: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    prompt: str | None = None
    turn_detection: ServerVad | None = ServerVad()
    noise_reduction: NoiseReduction | None = None
    logprobs: bool = False  # include: ["item.input_audio_transcription.logprobs"]

    def params(self) -> TranscriptionForm:
        return TranscriptionForm(
            model=self.model, language=self.language, prompt=self.prompt, languages=list(self.languages),
            keywords=list(self.keywords), include=["logprobs"] if self.logprobs else [],
        )  # fmt: skip


# -- what a client may send ------------------------------------------------------------------


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Transcription(_Fields):
    model: str | None = None
    language: Language = None
    prompt: str | None = None
    languages: list[LanguageCode] | None = Field(default=None, min_length=1)
    keywords: list[Keyword] | None = Field(default=None, max_length=MAX_KEYWORDS)
    # How long gpt-realtime-whisper waits before it writes: accepted, no effect here.
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a model id is required")
        return accepted_model(value, ASR_MODELS)


class _ServerVad(_Fields):
    type: str = "server_vad"
    threshold: float | None = Field(default=None, ge=0, le=1)
    prefix_padding_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    silence_duration_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    idle_timeout_ms: int | None = Field(default=None, ge=5000, le=30_000)
    # How a conversation session answers; a transcription session makes no responses.
    create_response: bool | None = None
    interrupt_response: bool | None = None

    @field_validator("type")
    @classmethod
    def _server_vad_only(cls, value: str) -> str:
        if value != "server_vad":
            raise ValueError(f"{value!r} is not supported: use 'server_vad', or null to commit turns yourself")
        return value


class _Format(_Fields):
    type: Format
    rate: int | None = None


class _NoiseReduction(_Fields):
    type: NoiseReduction


class _AudioInput(_Fields):
    format: _Format | None = None
    transcription: _Transcription | None = None
    turn_detection: _ServerVad | None = None
    noise_reduction: _NoiseReduction | None = None


class _Audio(_Fields):
    input: _AudioInput | None = None


class _Session(_Fields):
    """GA ``session.update``: ``{"type": "transcription", "audio": {"input": {...}}}``."""

    type: str
    audio: _Audio | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None

    @field_validator("type")
    @classmethod
    def _transcription_only(cls, value: str) -> str:
        if value != "transcription":
            raise ValueError(f"{value!r} is not served here: this server runs transcription sessions only")
        return value


class _LegacySession(_Fields):
    """Beta ``transcription_session.update`` (``OpenAI-Beta: realtime=v1``)."""

    input_audio_format: Literal["pcm16", "g711_ulaw", "g711_alaw"] | None = None
    input_audio_transcription: _Transcription | None = None
    turn_detection: _ServerVad | None = None
    input_audio_noise_reduction: _NoiseReduction | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    client_secret: dict[str, Any] | None = None


def _error(exc: ValidationError) -> APIError:
    first = exc.errors(include_url=False)[0]
    located = {**first, "loc": ("session", *first["loc"])}
    if first["type"] == "extra_forbidden":
        param = ".".join(str(part) for part in located["loc"])
        return APIError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")
    return validation_error([located])


def apply_update(config: SessionConfig, session: Any, *, legacy: bool) -> SessionConfig:
    """The configuration once the update's ``session`` object is applied; APIError(400) if it is bad."""
    if not isinstance(session, dict):
        raise APIError(
            400,
            "Missing required parameter: 'session' (an object).",
            param="session",
            code="missing_required_parameter",
        )
    try:
        parsed = (_LegacySession if legacy else _Session).model_validate(session)
    except ValidationError as exc:
        raise _error(exc) from None
    given = parsed.model_dump(exclude_unset=True)
    if legacy:
        fmt = LEGACY_FORMATS[given["input_audio_format"]] if given.get("input_audio_format") else None
        transcription = given.get("input_audio_transcription") or {}
        vad_where = "session.turn_detection"
        source = given
    else:
        source = (given.get("audio") or {}).get("input") or {}
        fmt = _format(source["format"]) if source.get("format") is not None else None
        transcription = source.get("transcription") or {}
        vad_where = "session.audio.input.turn_detection"

    changes: dict[str, Any] = {}
    if fmt is not None:
        changes["format"] = fmt
    if "model" in transcription:
        changes["model"] = transcription["model"]
    if "language" in transcription:
        changes["language"] = transcription["language"]
    if "prompt" in transcription:
        changes["prompt"] = transcription["prompt"] or None
    for name in ("languages", "keywords"):
        if name in transcription:
            changes[name] = tuple(transcription[name] or ())
    if "turn_detection" in source:
        changes["turn_detection"] = _turn_detection(config.turn_detection, source["turn_detection"], vad_where)
    noise = "input_audio_noise_reduction" if legacy else "noise_reduction"
    if noise in source:
        changes["noise_reduction"] = (source[noise] or {}).get("type")
    if "include" in given:
        changes["logprobs"] = LOGPROBS in (given["include"] or ())
    return dataclasses.replace(config, **changes)


def _format(given: dict[str, Any]) -> Format:
    fmt: Format = given["type"]
    rate = given.get("rate")
    expected = PCM_RATE if fmt == "audio/pcm" else G711_RATE
    if rate is not None and rate != expected:
        raise invalid(
            f"Invalid value for 'session.audio.input.format.rate': {fmt} is accepted at {expected} Hz only, "
            f"got {rate}. Send 24 kHz 16-bit mono PCM (audio/pcm), or 8 kHz G.711 (audio/pcmu, audio/pcma).",
            "session.audio.input.format.rate",
        )
    return fmt


def _turn_detection(current: ServerVad | None, given: dict[str, Any] | None, where: str) -> ServerVad | None:
    if given is None:
        return None
    fields = {name: given[name] for name in ("threshold", "prefix_padding_ms", "silence_duration_ms") if name in given}
    if any(value is None for value in fields.values()):
        name = next(name for name, value in fields.items() if value is None)
        raise invalid(f"Invalid value for '{where}.{name}': a number is required.", f"{where}.{name}")
    if "idle_timeout_ms" in given:
        fields["idle_timeout_ms"] = given["idle_timeout_ms"]  # null turns it off
    return dataclasses.replace(current or ServerVad(), **fields)


# -- what the server reports -----------------------------------------------------------------


def _transcription(config: SessionConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"model": config.model}
    if config.language is not None:
        out["language"] = config.language
    for name in ("languages", "keywords"):
        if getattr(config, name):
            out[name] = list(getattr(config, name))
    if config.prompt is not None:
        out["prompt"] = config.prompt
    return out


def _vad(config: SessionConfig) -> dict[str, Any] | None:
    vad = config.turn_detection
    if vad is None:
        return None
    fields = dataclasses.asdict(vad)
    if fields["idle_timeout_ms"] is None:
        del fields["idle_timeout_ms"]
    return {"type": "server_vad", **fields}


def _noise_reduction(config: SessionConfig) -> dict[str, Any]:
    """Present when on (OpenAI's session object types it as an object, never null)."""
    return {} if config.noise_reduction is None else {"type": config.noise_reduction}


def _include(config: SessionConfig) -> list[str]:
    return [LOGPROBS] if config.logprobs else []


def ga_session(config: SessionConfig, session_id: str, expires_at: int) -> dict[str, Any]:
    """The GA ``realtime.transcription_session`` object (session.created / session.updated)."""
    fmt: dict[str, Any] = {"type": config.format}
    if config.format == "audio/pcm":
        fmt["rate"] = PCM_RATE
    return {
        "type": "transcription",
        "id": session_id,
        "object": "realtime.transcription_session",
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": fmt,
                "transcription": _transcription(config),
                **({"noise_reduction": noise} if (noise := _noise_reduction(config)) else {}),
                "turn_detection": _vad(config),
            }
        },
        "include": _include(config),
    }


def legacy_session(config: SessionConfig, session_id: str, expires_at: int) -> dict[str, Any]:
    """The beta shape (transcription_session.created / .updated). Its ``client_secret`` exists only
    for sessions created over REST, so a WebSocket session has none."""
    legacy_format = next(name for name, fmt in LEGACY_FORMATS.items() if fmt == config.format)
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "expires_at": expires_at,
        "modalities": ["text"],
        "input_audio_format": legacy_format,
        "input_audio_transcription": _transcription(config),
        **({"input_audio_noise_reduction": noise} if (noise := _noise_reduction(config)) else {}),
        "turn_detection": _vad(config),
        "include": _include(config),
    }


# -- a configuration handed over by the gateway -----------------------------------------------------

SESSION_HEADER = "x-realtime-session"  # the configuration a client secret was minted for


def encode_object(data: dict[str, Any]) -> str:
    """A JSON object as URL-safe base64 text (no padding): fit for a header or a token."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_object(text: str) -> dict[str, Any]:
    data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def session_header(session: dict[str, Any], *, legacy: bool) -> str:
    """The SESSION_HEADER value the gateway sends with the WebSocket upgrade."""
    return encode_object({"session": session, "legacy": legacy})


def configured(header: str | None) -> SessionConfig:
    """The configuration a session starts with: the defaults, with what the gateway handed over."""
    if not header:
        return SessionConfig()
    data = decode_object(header)
    return apply_update(SessionConfig(), data["session"], legacy=bool(data["legacy"]))
