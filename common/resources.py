"""What the API answers, as pydantic models: the backends build their JSON bodies from them, and the
gateway's OpenAPI document describes its responses with them. Shapes are OpenAI's (its OpenAPI
spec's schemas of the same names) unless marked as an extension. Optional parts that are absent
are left out of the body, not sent as null (``dump``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Resource(BaseModel):
    def dump(self) -> dict[str, Any]:
        """The JSON body: fields that are None are left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ObjectResource(Resource):
    """An OpenAI object: documented as answered, with ``object`` always present, though it has a
    default."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


# --- Custom voices and consents -----------------------------------------------------------------------


class VoiceConsentResource(ObjectResource):
    """OpenAI's VoiceConsentResource."""

    object: Literal["audio.voice_consent"] = "audio.voice_consent"
    id: str = Field(examples=["cons_1234"])
    name: str
    language: str = Field(description="The BCP 47 tag of the consent phrase's language, e.g. `en-US`.")
    created_at: int = Field(description="Unix time (seconds) the consent was created.")


class VoiceConsentListResource(ObjectResource):
    """OpenAI's VoiceConsentListResource: newest first; page on with ``after=last_id``."""

    object: Literal["list"] = "list"
    data: list[VoiceConsentResource]
    first_id: str | None
    last_id: str | None
    has_more: bool

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # first_id and last_id are null on an empty page


class VoiceConsentDeletedResource(ObjectResource):
    """OpenAI's VoiceConsentDeletedResource."""

    id: str
    object: Literal["audio.voice_consent"] = "audio.voice_consent"
    deleted: bool


class VoiceResource(ObjectResource):
    """OpenAI's VoiceResource: a custom voice, usable as ``voice: {"id": ...}`` in speech requests."""

    object: Literal["audio.voice"] = "audio.voice"
    id: str = Field(examples=["voice_1234"])
    name: str
    created_at: int = Field(description="Unix time (seconds) the voice was created.")


class VoiceDeletedResource(ObjectResource):
    """What DELETE /v1/audio/voices/{voice_id} answers (the OpenAI SDK's VoiceDeleted)."""

    id: str
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"
    deleted: bool


class VoiceChoice(BaseModel):
    """A voice a client may pass as ``voice``, as Open WebUI's picker reads it."""

    id: str = Field(description="What to send as `voice`.")
    name: str = Field(description="How to show it.")


class VoiceList(Resource):
    """GET /v1/audio/voices (extension): every voice a client may pass, and how OpenAI's names map."""

    voices: list[VoiceChoice] = Field(
        description="Every voice as {id, name}: built-in speakers, OpenAI names, custom voices (Open WebUI reads it)."
    )
    engine: str = Field(description="The TTS engine: coqui or piper.")
    description: str = Field(description="What the TTS service runs.")
    languages: list[str] = Field(description="The languages the model speaks.")
    builtin: list[str] = Field(description="The model's built-in speaker names.")
    openai: dict[str, str | None] = Field(
        description="OpenAI voice name -> the built-in speaker it speaks with (null: the default reference)."
    )
    default: str | None = Field(description="The speaker unknown voice names get.")
    note: str | None = Field(default=None, description="Anything worth knowing about these voices.")
    custom: list[VoiceResource] = Field(description="Custom voices (OpenAI's VoiceResource).")
    cloning: bool = Field(description="Whether this engine can clone voices (POST /v1/audio/voices).")


# --- Transcriptions ------------------------------------------------------------------------------------


class DurationUsage(BaseModel):
    """OpenAI's TranscriptTextUsageDuration: seconds of input audio."""

    type: Literal["duration"] = "duration"
    seconds: float


class TokenLogprob(BaseModel):
    """One of Whisper's tokens with its log probability (OpenAI's LogProbProperties)."""

    token: str
    logprob: float
    bytes: list[int] = Field(description="The token's UTF-8 bytes (a multi-byte character may span tokens).")


class TranscriptionLanguage(BaseModel):
    code: str = Field(description="ISO-639-1 code of a language heard in the audio.")


class TranscriptionJson(Resource):
    """response_format=json (OpenAI's CreateTranscriptionResponseJson; translations: text only)."""

    text: str
    logprobs: list[TokenLogprob] | None = Field(default=None, description="With include[]=logprobs.")
    languages: list[TranscriptionLanguage] | None = Field(
        default=None, description="With languages[]: the language detected among them."
    )
    usage: DurationUsage | None = None


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float
    speaker: str | None = Field(default=None, description="Extension: with advanced=true and diarization.")


class TranscriptionSegment(BaseModel):
    """OpenAI's TranscriptionSegment (verbose_json)."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    speaker: str | None = Field(default=None, description="Extension: when diarized.")


class TranscriptionVerboseJson(Resource):
    """response_format=verbose_json (OpenAI's CreateTranscriptionResponseVerboseJson)."""

    task: Literal["transcribe", "translate"] = Field(description="Extension of OpenAI's shape: which route.")
    language: str = Field(description="The language's lower-case English name, e.g. `english`.")
    duration: float
    text: str
    segments: list[TranscriptionSegment]
    words: list[TranscriptionWord] | None = Field(default=None, description="With timestamp_granularities[]=word.")
    languages: list[TranscriptionLanguage] | None = Field(default=None, description="With languages[].")
    usage: DurationUsage | None = Field(default=None, description="Transcriptions only, as with OpenAI.")


class DiarizedSegment(BaseModel):
    """OpenAI's TranscriptionDiarizedSegment."""

    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str
    start: float
    end: float
    text: str
    speaker: str


class TranscriptionDiarizedJson(Resource):
    """response_format=diarized_json (OpenAI's CreateTranscriptionResponseDiarizedJson)."""

    task: Literal["transcribe"] = "transcribe"
    duration: float
    text: str
    segments: list[DiarizedSegment]
    usage: DurationUsage


class AdvancedSegment(BaseModel):
    id: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[TranscriptionWord]


class SpeakerTurn(BaseModel):
    speaker: str
    start: float
    end: float


class TranscriptionAdvancedJson(Resource):
    """Extension, advanced=true with json: WhisperX's words per segment and, when diarized, speakers."""

    text: str
    language: str = Field(description="ISO-639-1 code.")
    segments: list[AdvancedSegment]
    diarization: list[SpeakerTurn] | None = None
    speakers: list[str] | None = None
    logprobs: list[TokenLogprob] | None = Field(default=None, description="With include[]=logprobs.")
    usage: DurationUsage


TRANSCRIPTION_RESPONSES = (
    TranscriptionJson | TranscriptionVerboseJson | TranscriptionDiarizedJson | TranscriptionAdvancedJson
)


class TranscriptTextDelta(Resource):
    """A stream event (OpenAI's TranscriptTextDeltaEvent)."""

    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str
    logprobs: list[TokenLogprob] | None = None


class TranscriptTextDone(Resource):
    """The last stream event (OpenAI's TranscriptTextDoneEvent)."""

    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str
    logprobs: list[TokenLogprob] | None = None
