"""The public request contract (docs/api.md), validated the same way by the gateway and backends.

The gateway validates before it contacts a backend; each backend validates again with the same
code, so the two can never disagree on what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.errors import APIError, invalid
from common.languages import WHISPER_LANGUAGES

ASR_MODELS: tuple[str, ...] = ("whisper-1", "turbo")
TTS_MODELS: tuple[str, ...] = ("tts-1", "tts-1-hd", "coqui-tts")

TRANSCRIPTION_FORMATS: tuple[str, ...] = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
TRANSLATION_FORMATS: tuple[str, ...] = ("json", "text", "srt", "verbose_json", "vtt")
TEXT_FORMATS: frozenset[str] = frozenset({"text", "srt", "vtt"})
GRANULARITIES: tuple[str, ...] = ("segment", "word")

SPEECH_FORMATS: tuple[str, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH_CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
OPENAI_VOICES: tuple[str, ...] = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx",
    "nova", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
MAX_SPEECH_INPUT = 4096

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def parse_bool(value: str | bool | None, param: str, default: bool) -> bool:
    """Form booleans: true/false/1/0/yes/no in any case; anything else is a 400."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid(f"Invalid boolean for '{param}': {value!r}. Use true/false, 1/0 or yes/no.", param)


def _parse_int(value: str | None, param: str, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"'{param}' must be an integer >= {minimum}, got {value!r}.", param) from None
    if number < minimum:
        raise invalid(f"'{param}' must be an integer >= {minimum}, got {number}.", param)
    return number


def _parse_temperature(value: str | None) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise invalid(f"'temperature' must be a number between 0 and 1, got {value!r}.", "temperature") from None
    if not 0.0 <= number <= 1.0:
        raise invalid(f"'temperature' must be between 0 and 1, got {number:g}.", "temperature")
    return number


def parse_language(value: str | None) -> str | None:
    """An ISO-639-1 code Whisper knows, lower-cased; None means auto-detect."""
    if value is None or value.strip() == "":
        return None
    code = value.strip().lower()
    if code not in WHISPER_LANGUAGES:
        raise invalid(
            f"Unknown language {value!r}: use an ISO-639-1 code Whisper supports, e.g. 'en', 'de', 'zh' "
            f"(omit it to auto-detect). Supported: {', '.join(sorted(WHISPER_LANGUAGES))}.",
            "language",
            code="unsupported_language",
        )
    return code


@dataclass(frozen=True)
class VadParameters:
    """How the audio is cut into speech before it is transcribed: OpenAI's ``server_vad`` chunking
    fields, with its defaults. A speech region starts where the VAD's speech probability reaches
    ``threshold`` (0-1), with ``prefix_padding_ms`` of audio before it, and ends once
    ``silence_duration_ms`` of silence has followed it (shorter pauses do not split it)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200


@dataclass(frozen=True)
class TranscriptionParams:
    """A validated transcription or translation request (everything but the file)."""

    model: str
    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    response_format: str = "json"
    timestamp_granularities: tuple[str, ...] = ("segment",)
    advanced: bool = False
    diarize: bool = True
    min_speakers: int | None = None
    max_speakers: int | None = None
    stream: bool = False
    vad: VadParameters = VadParameters()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def word_timestamps(self) -> bool:
        return "word" in self.timestamp_granularities

    @property
    def needs_alignment(self) -> bool:
        return self.advanced or self.word_timestamps

    @property
    def needs_diarization(self) -> bool:
        return self.advanced and self.diarize


FormFields = Mapping[str, Sequence[str]]
"""Multipart text fields by name; a field may repeat (``timestamp_granularities[]``)."""


def _single(fields: FormFields, name: str) -> str | None:
    values = fields.get(name)
    return values[-1] if values else None


def parse_model(value: str | None, accepted: Sequence[str]) -> str:
    if value is None or value.strip() == "":
        raise APIError(
            400, f"Missing required parameter: 'model'. Use one of {_one_of(accepted)}.",
            param="model", code="missing_required_parameter",
        )  # fmt: skip
    if value not in accepted:
        raise invalid(
            f"Unknown model {value!r} for this route: use one of {_one_of(accepted)}.", "model", "model_not_found"
        )
    return value


def parse_transcription_form(fields: FormFields, task: Literal["transcribe", "translate"]) -> TranscriptionParams:
    """Validate the text fields of /v1/audio/transcriptions or /v1/audio/translations.

    Raises APIError(400) naming the first bad parameter. Unknown fields are ignored, like OpenAI.
    """
    model = parse_model(_single(fields, "model"), ASR_MODELS)
    formats = TRANSCRIPTION_FORMATS if task == "transcribe" else TRANSLATION_FORMATS
    response_format = (_single(fields, "response_format") or "json").strip()
    if response_format not in formats:
        raise invalid(
            f"Unsupported response_format {response_format!r}: use one of {_one_of(formats)}.",
            "response_format",
            "unsupported_value",
        )
    temperature = _parse_temperature(_single(fields, "temperature"))
    prompt = _single(fields, "prompt") or None
    stream = parse_bool(_single(fields, "stream"), "stream", False)
    if task == "translate":
        return TranscriptionParams(
            model=model, task=task, prompt=prompt, temperature=temperature,
            response_format=response_format, stream=stream,
        )  # fmt: skip

    granularities = tuple(
        g.strip() for g in [*fields.get("timestamp_granularities[]", ()), *fields.get("timestamp_granularities", ())]
    ) or ("segment",)
    for granularity in granularities:
        if granularity not in GRANULARITIES:
            raise invalid(
                f"Unsupported timestamp granularity {granularity!r}: use {_one_of(GRANULARITIES)}.",
                "timestamp_granularities[]",
                "unsupported_value",
            )
    advanced = parse_bool(_single(fields, "advanced"), "advanced", False)
    diarize = parse_bool(_single(fields, "diarize"), "diarize", True)
    if response_format == "diarized_json":
        advanced, diarize = True, True
    min_speakers = _parse_int(_single(fields, "min_speakers"), "min_speakers", 1)
    max_speakers = _parse_int(_single(fields, "max_speakers"), "max_speakers", 1)
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise invalid(
            f"'min_speakers' ({min_speakers}) must not be greater than 'max_speakers' ({max_speakers}).",
            "min_speakers",
        )
    return TranscriptionParams(
        model=model,
        task=task,
        language=parse_language(_single(fields, "language")),
        prompt=prompt,
        temperature=temperature,
        response_format=response_format,
        timestamp_granularities=granularities,
        advanced=advanced,
        diarize=diarize,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        stream=stream,
    )


# --- Custom voices: OpenAI's voices and voice_consents routes -----------------------------------------

VOICE_FILE_MAX_BYTES = 10 * 2**20  # OpenAI's limit for consent recordings and voice samples
VOICE_FORM_FIELD_MAX_BYTES = 64 * 1024  # a name, a language or a consent id
CONSENT_ID_PREFIX = "cons_"
VOICE_ID_PREFIX = "voice_"
MAX_NAME_CHARS = 256
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
# Well-formed enough for a BCP 47 tag: a 2-3 letter language, then subtags (en, en-US, zh-Hans-CN).
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


class CustomVoiceRef(BaseModel):
    """A custom voice in a speech request, as OpenAI's spec writes it: ``{"id": "voice_1234"}``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="The custom voice's id, e.g. `voice_1234`.")


def custom_voice_id(voice: str | CustomVoiceRef) -> str | None:
    """The custom voice a speech request names, as ``{"id"}`` or as the id in a plain string
    (for clients that can only send strings); None for any other voice name."""
    if isinstance(voice, CustomVoiceRef):
        return voice.id.strip()
    stripped = voice.strip()
    return stripped if stripped.startswith(VOICE_ID_PREFIX) else None


def _missing(param: str, what: str) -> APIError:
    return APIError(
        400, f"Missing required parameter: '{param}' ({what}).", param=param, code="missing_required_parameter"
    )


def parse_name(value: str | None, param: str = "name") -> str:
    """A resource's name: free text, 1 to 256 characters once surrounding spaces are dropped."""
    name = (value or "").strip()
    if not name:
        raise _missing(param, "a label of your choice")
    if len(name) > MAX_NAME_CHARS:
        raise invalid(f"'{param}' must be at most {MAX_NAME_CHARS} characters, got {len(name)}.", param)
    return name


def parse_language_tag(value: str | None) -> str:
    """A BCP 47 language tag such as ``en`` or ``en-US``, as given (surrounding spaces dropped)."""
    tag = (value or "").strip()
    if not tag:
        raise _missing("language", "the BCP 47 tag of the language spoken, e.g. 'en-US'")
    if len(tag) > 35 or not _LANGUAGE_TAG.fullmatch(tag):  # 35: the longest tag BCP 47 implementations must keep
        raise invalid(
            f"'language' must be a BCP 47 language tag such as 'en' or 'en-US', got {tag[:40]!r}.", "language"
        )
    return tag


@dataclass(frozen=True)
class ConsentForm:
    """POST /v1/audio/voice_consents, less the recording."""

    name: str
    language: str


@dataclass(frozen=True)
class VoiceForm:
    """POST /v1/audio/voices, less the audio sample."""

    name: str
    consent: str


def parse_consent_form(fields: FormFields) -> ConsentForm:
    return ConsentForm(parse_name(_single(fields, "name")), parse_language_tag(_single(fields, "language")))


def parse_voice_form(fields: FormFields) -> VoiceForm:
    """Unknown fields are ignored; ``type`` (newer SDKs send it) may only be ``audio_sample``."""
    kind = (_single(fields, "type") or "audio_sample").strip()
    if kind != "audio_sample":
        raise invalid(
            f"Unsupported voice type {kind!r}: voices are cloned from an audio sample here (type 'audio_sample', "
            "the default), with 'audio_sample' and 'consent'.",
            "type",
            "unsupported_value",
        )
    name = parse_name(_single(fields, "name"))
    consent = (_single(fields, "consent") or "").strip()
    if not consent:
        raise _missing("consent", "the id of a consent recording, e.g. 'cons_1234', from POST /v1/audio/voice_consents")
    if len(consent) > 64:
        raise invalid(f"'consent' must be a consent id such as 'cons_1234', got {len(consent)} characters.", "consent")
    return VoiceForm(name, consent)


class ConsentUpdate(BaseModel):
    """POST /v1/audio/voice_consents/{consent_id}: a new name (OpenAI's UpdateVoiceConsentRequest)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"name": "John Doe"}]})

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="The updated label.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()


class ConsentCreate(BaseModel):
    """What the gateway asks the TTS service to store once a consent recording has been checked
    (internal: the recording itself is not kept)."""

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    language: str = Field(min_length=2, max_length=64)
    verified: bool = Field(description="The recording was transcribed and said the consent statement.")


class _Resource(BaseModel):
    # Documented as answered: ``object`` always present, though it has a default.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class VoiceConsentResource(_Resource):
    """OpenAI's VoiceConsentResource."""

    object: Literal["audio.voice_consent"] = "audio.voice_consent"
    id: str = Field(examples=["cons_1234"])
    name: str
    language: str = Field(description="The BCP 47 tag of the consent phrase's language, e.g. `en-US`.")
    created_at: int = Field(description="Unix time (seconds) the consent was created.")


class VoiceConsentListResource(_Resource):
    """OpenAI's VoiceConsentListResource: newest first; page on with ``after=last_id``."""

    object: Literal["list"] = "list"
    data: list[VoiceConsentResource]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VoiceConsentDeletedResource(_Resource):
    """OpenAI's VoiceConsentDeletedResource."""

    id: str
    object: Literal["audio.voice_consent"] = "audio.voice_consent"
    deleted: bool


class VoiceResource(_Resource):
    """OpenAI's VoiceResource: a custom voice, usable as ``voice: {"id": ...}`` in speech requests."""

    object: Literal["audio.voice"] = "audio.voice"
    id: str = Field(examples=["voice_1234"])
    name: str
    created_at: int = Field(description="Unix time (seconds) the voice was created.")


class VoiceDeletedResource(_Resource):
    """What DELETE /v1/audio/voices/{voice_id} answers (the OpenAI SDK's VoiceDeleted)."""

    id: str
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"
    deleted: bool


class SpeechRequest(BaseModel):
    """POST /v1/audio/speech. Unknown fields are ignored (clients add them via ``extra_body``)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "tts-1",
                    "input": "Today is a wonderful day to build something people love.",
                    "voice": "alloy",
                    "response_format": "mp3",
                }
            ]
        },
    )

    model: Literal["tts-1", "tts-1-hd", "coqui-tts"] = Field(description="Public TTS model name.")
    input: Annotated[str, Field(min_length=1, max_length=MAX_SPEECH_INPUT, description="Text to speak.")]
    voice: Annotated[str, Field(min_length=1, max_length=256)] | CustomVoiceRef = Field(
        description='A custom voice, `{"id": "voice_…"}` or its id as a plain string; a built-in speaker name '
        f"(case-insensitive); or an OpenAI voice name ({', '.join(OPENAI_VOICES)}). Any other name uses the first "
        "built-in speaker.",
    )
    instructions: str | None = Field(
        default=None, max_length=MAX_SPEECH_INPUT, description="Accepted for compatibility; no effect on XTTS."
    )
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = Field(
        default="mp3", description="pcm is raw 24 kHz 16-bit signed little-endian mono."
    )
    speed: float = Field(default=1.0, ge=0.25, le=4.0, allow_inf_nan=False, description="0.25 to 4.0.")
    language: str | None = Field(
        default=None,
        max_length=16,
        description="Extension: the model's language code or a BCP 47 tag of it (en, en-US, zh-CN). Detected from the "
        "input when absent or blank.",
    )
    stream: bool = Field(
        default=True,
        description="Extension: true (the default, as OpenAI streams speech) sends the audio as it is synthesized "
        "(chunked transfer); false sends one body with Content-Length once it is complete.",
    )
    stream_format: Literal["audio", "sse"] = Field(
        default="audio",
        description="'audio': the audio bytes; 'sse': server-sent events, speech.audio.delta (base64 audio in "
        "response_format) as it is synthesized, then speech.audio.done with usage (characters of input as "
        "input_tokens: the engines are not token based).",
    )

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_shape(cls, value: Any) -> Any:
        # Checked here so a wrong shape gets one clear message naming ``voice``, not one per union member.
        if isinstance(value, str):
            if not 1 <= len(value) <= 256:
                raise ValueError("voice must be 1 to 256 characters")
            return value
        if isinstance(value, dict) and set(value) == {"id"} and isinstance(value["id"], str) and value["id"]:
            return value
        raise ValueError('voice must be a voice name or a custom voice as {"id": "voice_..."}')

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not any(char.isprintable() and not char.isspace() for char in value):
            raise ValueError("input must contain text, not only whitespace or control characters")
        return value


def speech_backend_body(request: SpeechRequest) -> dict[str, Any]:
    """The JSON the gateway forwards to the TTS backend: validated fields only."""
    return request.model_dump(exclude_none=True)
