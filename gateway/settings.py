"""Gateway settings (environment variables, unprefixed)."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from common.settings import BackendTokenSettings
from gateway.replicas import parse_urls

GIB = 1024**3


class Settings(BackendTokenSettings):
    """Everything the gateway can be told. Each field's env name is its upper-cased name."""

    port: int = Field(default=5000, description="Port the service listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes. More than one spreads requests over several cores.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API keys, separated by commas: when set (here or in API_KEY_FILE), every /v1 request needs "
        "'Authorization: Bearer <one of them>' (the OpenAI SDKs' api_key), and so does /metrics; others get 401. "
        "One key per client lets you rotate them one at a time; logs name a key by the first 8 hex digits of its "
        "SHA-256. /docs, /redoc, /openapi.json, /playground, /healthz and /readyz stay open.",
    )
    api_key_file: Path | None = Field(
        default=None,
        description="A file of API keys, one a line (blank lines and lines starting with # are skipped), read "
        "at start; its keys are accepted as well as API_KEY's.",
    )
    public_listings: bool = Field(
        default=False,
        description="With API keys set, still answer GET /v1/audio/voices and GET /v1/audio/models without a key: "
        "Open WebUI asks for them without one to fill its voice and model pickers. The lists name the custom "
        "voices, so anyone who reaches the gateway then sees those names.",
    )
    cors_allow_origins: str = Field(
        default="",
        description="Origins (scheme://host[:port], separated by commas; * for any) whose web pages may call the "
        "API from a browser (CORS). Empty: no CORS headers, so only same-origin pages (the playground) can. When "
        "set, the realtime WebSocket also refuses pages from other origins.",
    )
    asr_base_url: str = Field(
        default="http://127.0.0.1:5001",
        description="Base URL of the ASR (WhisperX) service, or of its replicas: several URLs separated by commas, "
        "and a host name stands for every address it resolves to (e.g. tasks.asr in Docker Swarm, a Kubernetes "
        "headless Service), looked up again every BACKEND_RESOLVE_SECONDS.",
    )
    tts_base_url: str = Field(
        default="http://127.0.0.1:5002",
        description="Base URL of the TTS (Coqui) service, or of its replicas, as ASR_BASE_URL.",
    )
    backend_resolve_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the host names of ASR_BASE_URL and TTS_BASE_URL are looked up again, so that "
        "replicas that come and go are followed.",
    )
    backend_rest_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a replica that refused a connection is passed over (it gets requests again once "
        "no other replica is free, or after this time).",
    )
    max_upload_bytes: int = Field(
        default=GIB,
        ge=1,
        description="Largest accepted transcription/translation request body; larger ones get 413 "
        "before any backend sees them.",
    )
    max_form_field_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest total size of the multipart form's text fields (everything but the file).",
    )
    max_json_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest accepted JSON body for /v1/audio/speech."
    )
    request_header_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest time a client may take to send a request's line and headers (slow loris), counted "
        "from connecting or from the previous response; then the connection is closed without a response. It is "
        "also how long an idle kept-alive connection stays open (KEEP_ALIVE_SECONDS does not apply to the "
        "gateway): keep it above the clients' idle expiry (the OpenAI SDKs and httpx: 5 s).",
    )
    request_body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest pause allowed while a client sends its request body; a stalled upload gets 408.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Time allowed to open a connection to a backend."
    )
    asr_read_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest silence from the ASR service while a transcription runs (idle-read timeout; "
        "there is no overall timeout, so hours of audio are fine).",
    )
    tts_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Overall time allowed for one speech request, streaming included."
    )
    ready_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Time /readyz waits for each backend's /healthz."
    )
    catalog_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the gateway asks the backends what they serve, for /v1/models' owned_by and "
        "description (in the background; /v1/models never waits for a backend).",
    )
    spool_dir: str | None = Field(
        default=None,
        description="Where an upload whose file part comes before its fields is spooled while the form is "
        "read (default: the system temp dir). The spool files are unnamed: nothing is left behind.",
    )
    backend_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Most concurrent connections to each backend (each has its own pool): a request that finds "
        "them all busy waits CONNECT_TIMEOUT_SECONDS, then gets 503.",
    )
    backend_keepalive_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long an idle connection to a backend is kept for reuse. Keep it well below the backends' "
        "KEEP_ALIVE_SECONDS, so the gateway never reuses a connection a backend is closing.",
    )
    voice_consent_check: bool = Field(
        default=True,
        description="Check that each voice consent recording says the consent statement (transcribed by the ASR "
        "service) before a consent is stored. false accepts any recording: only for operators who clone nobody's "
        "voice but their own.",
    )
    chunk_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        description="Read size when streaming a spooled upload to the ASR service.",
    )

    @model_validator(mode="after")
    def _keys_readable(self) -> Settings:
        self.api_keys  # noqa: B018 - an unreadable API_KEY_FILE stops start-up, not the first request
        return self

    @functools.cached_property
    def api_keys(self) -> list[str]:
        """Every accepted API key (none: the API is open)."""
        keys = self.api_key.get_secret_value().split(",") if self.api_key is not None else []
        if self.api_key_file is not None:
            try:
                lines = self.api_key_file.read_text().splitlines()
            except OSError as exc:
                raise ValueError(f"API_KEY_FILE {self.api_key_file} cannot be read: {exc.strerror}") from None
            keys += [line for line in lines if not line.strip().startswith("#")]
        return list(dict.fromkeys(key.strip() for key in keys if key.strip()))

    @field_validator("asr_base_url", "tts_base_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        parse_urls(value)
        return value

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_allow_origins.split(",") if origin.strip()]
