"""Settings classes the services share. Env names are unprefixed: each service is its own process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every service has."""

    # An empty variable (`HF_TOKEN=` in .env) means "not set": the default applies, never "".
    model_config = SettingsConfigDict(extra="ignore", env_file=None, env_ignore_empty=True)

    host: str = Field(default="0.0.0.0", description="Address the service listens on.")
    port: int = Field(default=5000, description="Port the service listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level: debug, info, warning or error."
    )
    shutdown_grace_seconds: float = Field(
        default=30,
        ge=0,
        description="On SIGTERM, how long in-flight requests may finish before the service exits "
        "(keep it below the orchestrator's stop grace period: 45 s in compose and Kubernetes).",
    )


class BackendTokenSettings(ServiceSettings):
    """Settings of the services on either side of the private hop: the gateway sends the secret they
    share, the backends ask for it."""

    backend_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Shared secret between the gateway and the backends (the same value for all three). When set, "
        "every backend route but /healthz and /readyz needs 'Authorization: Bearer <BACKEND_TOKEN>', which only "
        "the gateway sends. Make one with `openssl rand -hex 32`. Docker Compose refuses to start without it; "
        "the local launcher makes a new one for each run.",
    )
