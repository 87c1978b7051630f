"""ASR service settings (environment variables, unprefixed)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr, model_validator

from common.lifecycle import BackendSettings

SERVICE = "asr"  # the service's name in logs and metrics


class Settings(BackendSettings):
    """Everything the ASR service can be told. Each field's env name is its upper-cased name."""

    port: int = Field(default=5001, description="Port the ASR service listens on.")
    whisperx_model: str = Field(
        default="turbo",
        min_length=1,
        description="WhisperX/faster-whisper model the public names whisper-1 and turbo map to: a name "
        "(turbo, large-v3, small, tiny.en, …; downloaded to the Hugging Face cache on first use) or the "
        "path of a local CTranslate2 model directory.",
    )
    whisperx_align_model: str | None = Field(
        default=None,
        description="WhisperX alignment model (name or local directory) used for every language. Set: word "
        "timestamps (timestamp_granularities[]=word) come from WhisperX alignment with it. Unset: they come from "
        "Whisper itself (no extra model), and advanced=true uses WhisperX's default wav2vec2 model for the "
        "detected language (downloaded on first use).",
    )
    whisperx_diarization_model: str = Field(
        default="pyannote/speaker-diarization-community-1",
        description="pyannote speaker-diarization pipeline (hub name or local directory).",
    )
    hf_token: SecretStr | None = Field(
        default=None, description="Hugging Face token; required for diarization (gated pyannote models)."
    )
    compute_type: str = Field(
        default="auto",
        description="CTranslate2 compute type (float16, int8, int8_float16, float32, …); auto = float16 on "
        "cuda, int8 on cpu.",
    )
    batch_size: int = Field(default=16, ge=1, description="WhisperX batch size (segments decoded together).")
    cpu_threads: int = Field(default=0, ge=0, description="CPU threads for CTranslate2; 0 = its default.")
    chunk_seconds: float = Field(default=600, gt=0, description="Length of the chunks long audio is split into.")
    chunk_overlap_seconds: float = Field(
        default=3,
        ge=0,
        description="Overlap between consecutive chunks: the cut between them is placed at the quietest "
        "moment inside it, and speakers are matched across chunks on it.",
    )
    chunk_threshold_seconds: float = Field(
        default=600, gt=0, description="Audio longer than this is transcribed in chunks."
    )
    max_audio_seconds: float = Field(
        default=14400,
        ge=0,
        description="Longest audio accepted, in seconds of decoded sound (4 h by default; 0 = no limit). "
        "Longer files get 400 before they are transcribed: a few kB of compressed silence can decode "
        "to days of audio.",
    )
    max_form_field_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest total size of the multipart text fields."
    )
    max_realtime_sessions: int = Field(
        default=4,
        ge=1,
        description="Realtime transcription sessions (WebSocket /v1/realtime) open at once; one more gets an "
        "error event and close code 1013 (try again later). The model stays loaded while any is open.",
    )
    realtime_delta_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="While someone speaks in a realtime session, transcribe the growing turn again after this "
        "much new audio and send the words two passes agree on as deltas; 0 = deltas only once the turn ends.",
    )
    realtime_max_session_seconds: float = Field(
        default=3600,
        gt=0,
        description="Longest a realtime session stays open (OpenAI's limit is 60 minutes); then it gets an "
        "error event (session_expired) and is closed.",
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> Settings:
        if self.chunk_overlap_seconds >= self.chunk_seconds / 2:
            raise ValueError("CHUNK_OVERLAP_SECONDS must be less than half of CHUNK_SECONDS")
        return self

    @cached_property
    def resolved_compute_type(self) -> str:
        if self.compute_type != "auto":
            return self.compute_type
        return "float16" if self.resolved_device == "cuda" else "int8"
