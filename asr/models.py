"""The three models the ASR pipeline uses and how each is loaded.

Loading and unloading is ``common.lifecycle.ModelRuntime``'s job; this module only says what
each model is (its key, the setting that points to a local copy) and how to build it. WhisperX
and torch are imported here, when a model is first needed, never at service start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from asr.settings import Settings
from common.api_types import VadParameters

WHISPER_SETTING = "WHISPERX_MODEL"
ALIGN_SETTING = "WHISPERX_ALIGN_MODEL"
DIARIZATION_SETTING = "WHISPERX_DIARIZATION_MODEL"


@dataclass
class WhisperModel:
    """A loaded WhisperX pipeline with the decoding options it was loaded with."""

    pipeline: Any  # whisperx.asr.FasterWhisperPipeline, its vad_model an asr.vad.SileroVad
    base_options: Any  # faster_whisper TranscriptionOptions
    multilingual: bool

    def configure(
        self, *, prompt: str | None, temperature: float, vad: VadParameters, hotwords: str | None = None
    ) -> None:
        """Per-request decoding and VAD options (one inference at a time, so setting them is safe)."""
        # OpenAI semantics: temperature 0 = greedy with Whisper's fallback ladder; >0 = that one.
        temperatures = self.base_options.temperatures if temperature == 0 else [temperature]
        self.pipeline.options = dataclasses.replace(
            self.base_options, initial_prompt=prompt, temperatures=temperatures, hotwords=hotwords
        )
        self.pipeline.vad_model.parameters = vad

    def tokens(self, text: str) -> list[int]:
        return list(self.pipeline.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def tokenizer(self, language: str) -> Any:
        """faster-whisper's tokenizer for transcribing ``language`` (its SOT sequence, special tokens)."""
        from faster_whisper.tokenizer import Tokenizer

        whisper = self.pipeline.model
        return Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language=language)

    def decoding_prompt(self, tokenizer: Any) -> list[int]:
        """The prompt WhisperX decodes every segment after, with the options set by ``configure``:
        hotwords and initial prompt (after ``sot_prev``), the SOT sequence, no timestamps."""
        options = self.pipeline.options
        previous = tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
        return list(
            self.pipeline.model.get_prompt(
                tokenizer, previous, without_timestamps=options.without_timestamps, prefix=options.prefix,
                hotwords=options.hotwords,
            )
        )  # fmt: skip

    @property
    def max_hotword_tokens(self) -> int:
        """faster-whisper cuts hotwords longer than this (half the decoder's context, less one)."""
        return self.pipeline.model.max_length // 2 - 1


def whisper_key(settings: Settings) -> str:
    return f"whisper:{settings.whisperx_model}"


def load_whisper(settings: Settings) -> WhisperModel:
    import whisperx

    from asr.vad import SileroVad

    pipeline = whisperx.load_model(
        settings.whisperx_model,
        settings.resolved_device,
        compute_type=settings.resolved_compute_type,
        # WhisperX's own silero option fetches the model from GitHub; faster-whisper ships it.
        vad_model=SileroVad(),
        threads=settings.cpu_threads,
    )
    return WhisperModel(
        pipeline=pipeline,
        base_options=pipeline.options,
        multilingual=bool(pipeline.model.model.is_multilingual),
    )


def align_key(settings: Settings, language: str) -> str:
    return f"align:{settings.whisperx_align_model or language}"


def load_align(settings: Settings, language: str) -> tuple[Any, dict[str, Any]]:
    import whisperx

    return whisperx.load_align_model(
        language_code=language, device=settings.resolved_device, model_name=settings.whisperx_align_model
    )


def diarization_key(settings: Settings) -> str:
    return f"diarization:{settings.whisperx_diarization_model}"


def load_diarization(settings: Settings) -> Any:
    from whisperx.diarize import DiarizationPipeline

    token = settings.hf_token.get_secret_value() if settings.hf_token is not None else None
    return DiarizationPipeline(
        model_name=settings.whisperx_diarization_model, token=token, device=settings.resolved_device
    )
