"""The public request contract (docs/api.md) as pydantic models, shared by the gateway and the
backends: the gateway validates before it contacts a backend, and each backend validates again with
the same models, so the two can never disagree on what is accepted.

JSON bodies are models FastAPI reads (``SpeechRequest``). Multipart forms are models of their text
fields: FastAPI reads the small ones (``Annotated[ConsentForm, Form()]``); a transcription upload
streams, so its fields are collected as they pass and validated with ``parse_form``, into the same
kind of model. A validator's refusal carries its own message and OpenAI ``code``
(``common.errors.rejected``); every other failure becomes a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import UploadFile
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from common.errors import APIError, rejected, validation_error
from common.languages import WHISPER_LANGUAGES

ASR_MODELS: tuple[str, ...] = ("whisper-1", "turbo")
TTS_MODELS: tuple[str, ...] = ("tts-1", "tts-1-hd", "coqui-tts")

TRANSCRIPTION_FORMATS: tuple[str, ...] = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
TRANSLATION_FORMATS: tuple[str, ...] = ("json", "text", "srt", "verbose_json", "vtt")
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

# OpenAI's limits on known speakers (CreateTranscriptionRequest): up to 4, each reference 2-10 s.
MAX_KNOWN_SPEAKERS = 4
MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 100
Keyword = Annotated[str, Field(min_length=1, max_length=MAX_KEYWORD_CHARS)]

M = TypeVar("M", bound=BaseModel)


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- Field types ---------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _form_bool(value: Any, info: ValidationInfo) -> Any:
    """Form booleans: true/false/1/0/yes/no in any case (pydantic alone also takes on/off, t/f)."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    message = f"Invalid boolean for '{info.field_name}': {str(value)[:40]!r}. Use true/false, 1/0 or yes/no."
    raise rejected("invalid_value", message)


FormBool = Annotated[bool, BeforeValidator(_form_bool)]


def _language(value: Any) -> Any:
    """An ISO-639-1 code Whisper knows, lower-cased; blank means "detect it"."""
    if value is None or not str(value).strip():
        return None
    code = str(value).strip().lower()
    if code not in WHISPER_LANGUAGES:
        raise rejected(
            "unsupported_language",
            f"Unknown language {str(value)[:40]!r}: use an ISO-639-1 code Whisper supports, e.g. 'en', 'de', 'zh'. "
            f"Supported: {', '.join(sorted(WHISPER_LANGUAGES))}.",
        )
    return code


Language = Annotated[str | None, BeforeValidator(_language)]
LanguageCode = Annotated[str, BeforeValidator(_language)]  # one of a list: required


def _name(value: Any, info: ValidationInfo) -> Any:
    """A resource's name: free text, 1 to 256 characters once surrounding spaces are dropped."""
    if isinstance(value, str) and not value.strip():
        message = f"Missing required parameter: '{info.field_name}' (a label of your choice)."
        raise rejected("missing_required_parameter", message)
    return value.strip() if isinstance(value, str) else value


MAX_NAME_CHARS = 256
Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=MAX_NAME_CHARS)]

# Well-formed enough for a BCP 47 tag: a 2-3 letter language, then subtags (en, en-US, zh-Hans-CN);
# 35 characters is the longest tag BCP 47 implementations must keep.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def _language_tag(value: Any) -> Any:
    tag = str(value).strip() if value is not None else ""
    if len(tag) > 35 or not _LANGUAGE_TAG.fullmatch(tag):
        raise rejected(
            "invalid_value", f"'language' must be a BCP 47 language tag such as 'en' or 'en-US', got {tag[:40]!r}."
        )
    return tag


LanguageTag = Annotated[str, BeforeValidator(_language_tag)]


def accepted_model(value: str, accepted: Sequence[str]) -> str:
    if value not in accepted:
        message = f"Unknown model {value[:80]!r} for this route: use one of {_one_of(accepted)}."
        raise rejected("model_not_found", message)
    return value


# --- Forms -----------------------------------------------------------------------------------------


class FormModel(BaseModel):
    """A multipart form's text fields. Unknown fields are ignored (clients add vendor fields); list
    fields are named with ``[]`` as OpenAI's SDKs send them (``include[]``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def form_input(model: type[FormModel], fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What a form's fields give ``model``, as FastAPI reads a form: a list field takes all its
    values (under ``name[]`` or ``name``), any other field its last one; ``name[key]`` fields (the
    OpenAI SDKs' way of sending an object) form an object; an empty value counts as not sent."""
    lists = {(info.alias or name): name for name, info in model.model_fields.items() if _is_list(info.annotation)}
    data: dict[str, Any] = {}
    for key, values in fields.items():
        if not values:
            continue
        if key in lists or f"{key}[]" in lists:
            alias = key if key in lists else f"{key}[]"
            data.setdefault(alias, []).extend(value for value in values if value != "")
        elif (match := re.fullmatch(r"(\w+)\[(\w+)\]", key)) is not None:
            nested = data.setdefault(match[1], {})
            if isinstance(nested, dict):
                nested[match[2]] = values[-1]
        elif values[-1] != "":
            data[key] = values[-1]
    return data


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list or str(annotation).startswith("list[")


def parse_form(model: type[M], fields: Mapping[str, Sequence[str]]) -> M:
    """The form's text fields validated as ``model``; the 400 naming the first bad field otherwise."""
    try:
        return model.model_validate(form_input(model, fields))  # type: ignore[arg-type]
    except ValidationError as exc:
        raise validation_error(exc.errors(include_url=False)) from None


@dataclass(frozen=True)
class VadParameters:
    """How the audio is cut into speech before it is transcribed: OpenAI's ``server_vad`` chunking
    fields, with its defaults. A speech region starts where the VAD's speech probability reaches
    ``threshold`` (0-1), with ``prefix_padding_ms`` of audio before it, and ends once
    ``silence_duration_ms`` of silence has followed it (shorter pauses do not split it)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200


class VadConfig(BaseModel):
    """OpenAI's VadConfig: ``chunking_strategy`` with the cut tuned by hand."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["server_vad"] = Field(description="Must be `server_vad`.")
    threshold: float = Field(default=0.5, ge=0, le=1, description="Speech probability that starts speech.")
    prefix_padding_ms: int = Field(default=300, ge=0, le=60_000, description="Audio kept before speech starts.")
    silence_duration_ms: int = Field(default=200, ge=0, le=60_000, description="Silence that ends a chunk.")


def _chunking(value: Any) -> Any:
    """``"auto"``, or a VadConfig: an object (JSON text from curl, or the SDKs' chunking_strategy[key]
    fields), validated here so that a refusal names the field rather than a member of the union."""
    if value is None or value == "auto" or isinstance(value, VadConfig):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip().startswith("{") else value
        except ValueError:
            message = "'chunking_strategy' is not valid JSON: send 'auto' or an object."
            raise rejected("invalid_value", message) from None
    if not isinstance(value, dict):
        raise rejected(
            "invalid_value",
            f"Invalid 'chunking_strategy' {str(value)[:40]!r}: send 'auto', or an object "
            '{"type": "server_vad", "threshold", "prefix_padding_ms", "silence_duration_ms"}.',
        )
    try:
        return VadConfig.model_validate(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(["chunking_strategy", *(str(part) for part in error["loc"])])
        raise rejected("invalid_value", f"Invalid value for '{field}': {error['msg']}.", "chunking_strategy") from None


ChunkingStrategy = Annotated[Literal["auto"] | VadConfig | None, BeforeValidator(_chunking)]


class TranslationForm(FormModel):
    """POST /v1/audio/translations: OpenAI's CreateTranslationRequest, less the file."""

    model: str = Field(
        description="Public ASR model id; both run the WhisperX model the ASR service is set to.",
        json_schema_extra={"enum": list(ASR_MODELS)},
    )
    prompt: str | None = Field(default=None, description="Text to guide the style (in English).")
    response_format: Literal["json", "text", "srt", "verbose_json", "vtt"] = Field(
        default="json", description="text, srt and vtt are sent as text/plain."
    )
    temperature: float = Field(default=0, ge=0, le=1, description="Sampling temperature, 0 to 1.")
    stream: FormBool = Field(
        default=False,
        description="Extension: send `text/event-stream` events (`transcript.text.delta`, then "
        "`transcript.text.done`) as segments are ready.",
    )

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return accepted_model(value, ASR_MODELS)


class TranscriptionForm(TranslationForm):
    """POST /v1/audio/transcriptions: OpenAI's CreateTranscriptionRequest (less the file), with the
    WhisperX extras ``advanced``, ``diarize``, ``min_speakers`` and ``max_speakers``."""

    response_format: Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"] = Field(  # type: ignore[assignment]
        default="json", description="text, srt and vtt are sent as text/plain; diarized_json implies diarization."
    )
    language: Language = Field(
        default=None,
        description="ISO-639-1 code of the spoken language; omit it to detect the language.",
        json_schema_extra={"enum": sorted(WHISPER_LANGUAGES)},
    )
    timestamp_granularities: list[Literal["segment", "word"]] = Field(
        default=["segment"],
        alias="timestamp_granularities[]",
        description="`word` adds word timestamps (verbose_json `words`).",
    )
    include: list[Literal["logprobs"]] = Field(
        default=[],
        alias="include[]",
        description="`logprobs`: the log probability of each of Whisper's tokens (json, and the stream's events).",
    )
    chunking_strategy: ChunkingStrategy = Field(
        default=None,
        description="How the audio is cut before it is transcribed: `auto` (loudness normalised, then cut at "
        'voice activity), or `{"type": "server_vad", "threshold", "prefix_padding_ms", "silence_duration_ms"}`. '
        "Unset: the ASR service's own voice activity detection with its defaults.",
    )
    keywords: list[Keyword] = Field(
        default=[],
        alias="keywords[]",
        max_length=MAX_KEYWORDS,
        description="Words or phrases to favour (Whisper's hotwords), e.g. names and jargon.",
    )
    languages: list[LanguageCode] = Field(
        default=[],
        alias="languages[]",
        description="The languages the audio may be in (ISO-639-1): detection picks the likeliest of them.",
    )
    known_speaker_names: list[Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]] = Field(
        default=[],
        alias="known_speaker_names[]",
        max_length=MAX_KNOWN_SPEAKERS,
        description="With diarized_json: names for the speakers of `known_speaker_references[]`, in order.",
    )
    known_speaker_references: list[str] = Field(
        default=[],
        alias="known_speaker_references[]",
        max_length=MAX_KNOWN_SPEAKERS,
        description="With diarized_json: 2-10 s of each known speaker, as data URLs (`data:audio/wav;base64,...`); "
        "a diarized speaker takes the name of the reference it sounds like.",
    )
    advanced: FormBool = Field(
        default=False, description="Extension: word alignment and (with `diarize`) speaker diarization."
    )
    diarize: FormBool = Field(
        default=True, description="Extension: with advanced=true, label speakers (needs HF_TOKEN)."
    )
    min_speakers: int | None = Field(default=None, ge=1, description="Extension: lower bound for diarization.")
    max_speakers: int | None = Field(default=None, ge=1, description="Extension: upper bound for diarization.")

    @field_validator("known_speaker_references")
    @classmethod
    def _data_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            data_url_audio(value)
        return values

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptionForm:
        if self.response_format == "diarized_json":
            self.advanced = self.diarize = True
        if self.min_speakers is not None and self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise rejected(
                "invalid_value",
                f"'min_speakers' ({self.min_speakers}) must not be greater than 'max_speakers' ({self.max_speakers}).",
                "min_speakers",
            )
        if self.include and self.response_format != "json":
            raise rejected(
                "invalid_value",
                f"'include[]=logprobs' needs response_format 'json' (got {self.response_format!r}), as with OpenAI.",
                "include[]",
            )
        if self.language is not None and self.languages and self.language not in self.languages:
            raise rejected(
                "invalid_value",
                f"'language' ({self.language!r}) is not one of 'languages[]' ({', '.join(self.languages)}): send "
                "one of them, or leave 'language' out to detect it among them.",
                "language",
            )
        if len(self.known_speaker_names) != len(self.known_speaker_references):
            raise rejected(
                "invalid_value",
                f"Give one name for each known speaker reference ({len(self.known_speaker_names)} name(s), "
                f"{len(self.known_speaker_references)} reference(s)).",
                "known_speaker_names[]",
            )
        if self.known_speaker_names and not self.needs_diarization:
            raise rejected(
                "invalid_value",
                "Known speakers name the speakers of a diarized transcription: send response_format=diarized_json.",
                "known_speaker_names[]",
            )
        return self

    @property
    def word_timestamps(self) -> bool:
        return "word" in self.timestamp_granularities

    @property
    def needs_alignment(self) -> bool:
        return self.advanced or self.word_timestamps

    @property
    def needs_diarization(self) -> bool:
        return self.advanced and self.diarize

    @property
    def logprobs(self) -> bool:
        return "logprobs" in self.include

    @property
    def vad(self) -> VadParameters:
        """The VAD's parameters: chunking_strategy's server_vad fields, else OpenAI's defaults."""
        strategy = self.chunking_strategy
        if isinstance(strategy, VadConfig):
            return VadParameters(strategy.threshold, strategy.prefix_padding_ms, strategy.silence_duration_ms)
        return VadParameters()


AUDIO_DATA_URL = re.compile(r"data:(audio|video)/[\w.+-]+(?:;[\w-]+=[\w.-]+)*;base64,(?P<data>.*)", re.S)


def data_url_audio(value: str) -> bytes:
    """The bytes of a base64 data URL of audio (``data:audio/wav;base64,...``)."""
    match = AUDIO_DATA_URL.fullmatch(value.strip())
    if match is None:
        raise rejected(
            "invalid_value",
            "Each known speaker reference must be a data URL of audio, e.g. 'data:audio/wav;base64,UklGR...'.",
        )
    try:
        return base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise rejected("invalid_value", "A known speaker reference's data URL is not valid base64.") from None


def transcription_form(translation: TranslationForm) -> TranscriptionForm:
    """A translation request as the transcription model the ASR pipeline runs (its other fields at
    their defaults)."""
    return TranscriptionForm.model_validate(translation.model_dump())


# --- Speech ------------------------------------------------------------------------------------------


CONSENT_ID_PREFIX = "cons_"
VOICE_ID_PREFIX = "voice_"


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


# --- Custom voices: OpenAI's voices and voice_consents routes -------------------------------------------

VOICE_FILE_MAX_BYTES = 10 * 2**20  # OpenAI's limit for consent recordings and voice samples
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100


class ConsentForm(FormModel):
    """POST /v1/audio/voice_consents: OpenAI's CreateVoiceConsentRequest."""

    name: Name = Field(description="The label to use for this consent recording.")
    language: LanguageTag = Field(
        description="The BCP 47 language tag of the consent phrase (for example, `en-US`).", examples=["en-US"]
    )
    recording: UploadFile = Field(
        description="The consent recording, at most 10 MiB: any container/codec FFmpeg decodes (wav, flac, mp3, ogg, "
        "aac, webm, mp4, ...)."
    )


class VoiceForm(FormModel):
    """POST /v1/audio/voices: OpenAI's CreateVoiceRequest (cloned from an audio sample)."""

    name: Name = Field(description="The name of the new voice.")
    consent: str = Field(
        min_length=1, max_length=64, description="The consent recording ID (for example, `cons_1234`)."
    )
    audio_sample: UploadFile = Field(
        description="3 to 30 s of the voice, at most 10 MiB: any container/codec FFmpeg decodes (wav, flac, mp3, ogg, "
        "aac, webm, mp4, ...)."
    )
    type: str = Field(default="audio_sample", description="Newer SDKs send it: voices are cloned from `audio_sample`.")

    @field_validator("consent", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("type")
    @classmethod
    def _from_a_sample(cls, value: str) -> str:
        if value.strip() != "audio_sample":
            raise rejected(
                "unsupported_value",
                f"Unsupported voice type {value[:40]!r}: voices are cloned from an audio sample here (type "
                "'audio_sample', the default), with 'audio_sample' and 'consent'.",
            )
        return "audio_sample"


async def file_bytes(upload: UploadFile, param: str) -> bytes:
    """A small uploaded file's bytes: 413 past OpenAI's 10 MiB, 400 when it is empty."""
    if upload.size is not None and upload.size > VOICE_FILE_MAX_BYTES:
        raise APIError(
            413,
            f"The '{param}' file is larger than {VOICE_FILE_MAX_BYTES / 2**20:g} MiB, the most this route accepts.",
            param=param,
            code="file_too_large",
        )
    data = await upload.read()
    if not data:
        raise APIError(400, f"The uploaded '{param}' is empty: send an audio file.", param=param, code="empty_file")
    return data


class ConsentUpdate(BaseModel):
    """POST /v1/audio/voice_consents/{consent_id}: a new name (OpenAI's UpdateVoiceConsentRequest)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"name": "John Doe"}]})

    name: Name = Field(description="The updated label.")


class ConsentCreate(BaseModel):
    """What the gateway asks the TTS service to store once a consent recording has been checked
    (internal: the recording itself is not kept)."""

    name: Name
    language: LanguageTag
    verified: bool = Field(description="The recording was transcribed and said the consent statement.")
