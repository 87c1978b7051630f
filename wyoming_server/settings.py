"""Settings of the Wyoming server (environment variables, unprefixed)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from common.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the Wyoming server can be told. Each field's env name is its upper-cased name."""

    port: int = Field(default=10300, description="Port the service listens on.")
    gateway_url: str = Field(
        default="http://127.0.0.1:5000",
        description="Base URL of the speech API (the gateway) the Wyoming server is a client of.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The gateway's API key, which the Wyoming server sends as 'Authorization: Bearer <key>' "
        "(the first one, when several are given comma-separated).",
    )
    gateway_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Time the Wyoming server allows to open a connection to the gateway; a Wyoming client "
        "then gets an error event.",
    )
    gateway_read_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest the Wyoming server waits for the gateway while an answer is due (the next piece "
        "of speech audio, the transcript after audio-stop); a Wyoming client then gets an error event.",
    )
    asr_languages: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Languages the Wyoming server announces for speech to text, comma-separated ISO-639-1 "
        "codes (what Home Assistant offers). Empty: English only when the ASR model's name ends in '.en' "
        "(Whisper's English-only models), else every language Whisper knows.",
    )
    zeroconf: bool = Field(
        default=False,
        description="Announce the Wyoming server on the local network (mDNS, _wyoming._tcp), so Home "
        "Assistant discovers it. Needs the host's network (a container on a bridge network is not seen).",
    )
    zeroconf_name: str = Field(
        default="speech-stack", min_length=1, description="The name the Zeroconf announcement gives the server."
    )

    @property
    def bearer(self) -> str | None:
        """The key sent to the gateway."""
        if self.api_key is None:
            return None
        return self.api_key.get_secret_value().split(",")[0].strip() or None

    @field_validator("asr_languages", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):  # "en,de", or a JSON list as pydantic-settings writes lists
            codes = json.loads(value) if value.strip().startswith("[") else value.split(",")
            return [str(code).strip().lower() for code in codes if str(code).strip()]
        return value
