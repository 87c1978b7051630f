"""What the speech API serves, as Wyoming's ``info`` describes it: the ASR model and its languages,
and every voice ``GET /v1/audio/voices`` lists (built-in speakers, OpenAI voice names, custom
voices by id) with the TTS model's languages.

The listing is read again for each ``describe`` (so a custom voice made since shows up) and when a
client asks for a voice the last listing does not have; the last good one answers when the gateway
cannot.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from common.api_types import ASR_MODELS
from common.languages import WHISPER_LANGUAGES
from wyoming_server.gateway import Failure, Gateway
from wyoming_server.settings import Settings

log = logging.getLogger(__name__)

VERSION = metadata.version("speech-stack")
WHISPERX = Attribution(name="WhisperX", url="https://github.com/m-bain/whisperX")
TTS_ENGINES = {
    "coqui": Attribution(name="Coqui TTS", url="https://github.com/idiap/coqui-ai-TTS"),
    "piper": Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl"),
}
DESCRIBE_SECONDS = 0.5
ENGLISH_ONLY = re.compile(r"\.en\b")  # Whisper's English-only models: tiny.en, base.en, small.en, medium.en


@dataclass(frozen=True)
class Voice:
    name: str  # what a client sends, and the API's ``voice``: a speaker, an OpenAI name or a custom voice id
    description: str  # what Home Assistant shows


@dataclass(frozen=True)
class Catalog:
    asr_models: dict[str, str]  # public id -> what the gateway says it runs
    voices: list[Voice]
    default_voice: str
    tts_languages: list[str]
    tts_engine: str
    tts_description: str

    @classmethod
    def from_listings(cls, models: dict[str, Any], voices: dict[str, Any]) -> Catalog:
        listed = [
            *(Voice(name, name) for name in voices.get("builtin") or []),
            *(
                Voice(name, f"{name} (OpenAI voice{f': {speaker}' if speaker else ''})")
                for name, speaker in (voices.get("openai") or {}).items()
            ),
            *(
                Voice(custom["id"], f"{custom.get('name') or custom['id']} (custom voice)")
                for custom in voices.get("custom") or []
            ),
        ]
        unique: dict[str, Voice] = {}
        for voice in listed:  # a speaker named like an OpenAI voice is that speaker, as the API resolves it
            unique.setdefault(voice.name.lower(), voice)
        return cls(
            asr_models={
                model["id"]: model.get("description") or model["id"]
                for model in models.get("data") or []
                if model.get("id") in ASR_MODELS
            },
            voices=list(unique.values()),
            default_voice=voices.get("default") or next(iter(voices.get("openai") or {}), "alloy"),
            tts_languages=list(voices.get("languages") or []),
            tts_engine=str(voices.get("engine") or "coqui"),
            tts_description=str(voices.get("description") or ""),
        )

    def voice(self, name: str) -> Voice | None:
        """The listed voice ``name`` means: a custom voice id exactly, a speaker or OpenAI name in any case."""
        exact = next((voice for voice in self.voices if voice.name == name), None)
        return exact or next((voice for voice in self.voices if voice.name.lower() == name.strip().lower()), None)

    def asr_languages(self, configured: list[str]) -> list[str]:
        if configured:
            return configured
        if any(ENGLISH_ONLY.search(description) for description in self.asr_models.values()):
            return ["en"]
        return list(WHISPER_LANGUAGES)

    def info(self, settings: Settings) -> Info:
        languages = self.asr_languages(settings.asr_languages)
        # Artifacts positionally: name, attribution, installed, description, version, then their own fields.
        tts = TTS_ENGINES.get(self.tts_engine, Attribution(name=self.tts_engine, url=""))
        return Info(
            asr=[
                AsrProgram(
                    name="speech-stack-whisperx",
                    description="WhisperX through the speech stack's realtime transcription",
                    attribution=WHISPERX,
                    installed=True,
                    version=VERSION,
                    models=[
                        AsrModel(model_id, WHISPERX, True, description, None, languages)
                        for model_id, description in self.asr_models.items()
                    ],
                    supports_transcript_streaming=True,
                )
            ],
            tts=[
                TtsProgram(
                    name=f"speech-stack-{self.tts_engine}",
                    description=self.tts_description or f"{tts.name} through the speech stack",
                    attribution=tts,
                    installed=True,
                    version=VERSION,
                    voices=[
                        TtsVoice(voice.name, tts, True, voice.description, None, self.tts_languages)
                        for voice in self.voices
                    ],
                    supports_synthesize_streaming=True,
                )
            ],
        )


class Listings:
    """The last good catalog, read again from the gateway when asked."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._last: Catalog | None = None
        self._lock = asyncio.Lock()

    async def fresh(self) -> Catalog:
        """Read the listings now (one read at a time; callers waiting meanwhile share it)."""
        before = self._last
        async with self._lock:
            if self._last is not before and self._last is not None:
                return self._last  # read while this caller waited
            models, voices = await asyncio.gather(
                self._gateway.get_json("/v1/models"), self._gateway.get_json("/v1/audio/voices")
            )
            self._last = Catalog.from_listings(models, voices)
            return self._last

    async def current(self) -> Catalog:
        """The last catalog read, or a fresh one when there is none yet."""
        return self._last or await self.fresh()

    async def for_describe(self) -> Catalog:
        """A fresh catalog; the last good one (logged) when the gateway cannot answer, or not within
        DESCRIBE_SECONDS (Home Assistant gives describe one second)."""
        if self._last is None:
            return await self.fresh()
        try:
            return await asyncio.wait_for(self.fresh(), DESCRIBE_SECONDS)
        except (Failure, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, Failure) else f"no answer within {DESCRIBE_SECONDS:g} s"
            log.warning("describe answered with the last voice listing: %s", reason)
            return self._last

    async def voice(self, name: str) -> Voice:
        """The listed voice ``name`` means, reading the listing again once if it is not there (a new
        custom voice); a Failure naming the voices there are otherwise."""
        catalog = await self.current()
        found = catalog.voice(name)
        if found is None:
            catalog = await self.fresh()
            found = catalog.voice(name)
        if found is None:
            names = ", ".join(voice.name for voice in catalog.voices)
            raise Failure(f"Unknown voice {name!r}. Voices: {names}.", "unknown_voice")
        return found
