"""Coqui TTS engine: XTTS models by name (Coqui model manager) or from a local directory."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.errors import APIError
from common.lifecycle import is_out_of_memory
from coqui_tts.engines.base import CustomVoice, Engine, Speaker, VoiceTable

if TYPE_CHECKING:
    from coqui_tts.settings import Settings

log = logging.getLogger(__name__)
SPEAKERS_FILE = "speakers_xtts.pth"  # where Xtts.load_checkpoint finds the built-in speakers


def _allow_xtts_configs() -> None:
    """PyTorch >= 2.6 loads checkpoints with ``weights_only=True``: allow exactly the XTTS config
    classes that XTTS checkpoints pickle, nothing broader."""
    import torch
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.configs.xtts_config import XttsArgs, XttsAudioConfig, XttsConfig

    torch.serialization.add_safe_globals([XttsConfig, XttsAudioConfig, XttsArgs, BaseDatasetConfig])


def _fold_weight_norm(decoder: Any) -> None:
    """Inference only: fold the decoder's weight norm once instead of recomputing it for every
    chunk (Coqui's own HiFiGAN loader does this in eval mode; Xtts.load_checkpoint does not, and
    HifiganGenerator.remove_weight_norm fails on XTTS's plain conv_pre)."""
    from torch.nn.utils import parametrize

    for module in decoder.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight")


def default_speaker_path(settings: Settings) -> Path:
    if settings.default_speaker_wav is not None:
        return settings.default_speaker_wav
    from trainer.io import get_user_data_dir  # where Coqui keeps its models: the TTS cache

    return get_user_data_dir("tts") / "default-speaker.flac"


def _fetch(url: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    with urllib.request.urlopen(url, timeout=30) as response, partial.open("wb") as out:
        out.write(response.read())
    partial.replace(path)  # never leave a half-written reference behind


class CoquiEngine(Engine):
    def __init__(self, model: Any, settings: Settings) -> None:
        self._model = model
        self._settings = settings
        self._default_voice: tuple[Any, Any] | None = None
        self.sample_rate = model.args.output_sample_rate

    @property
    def speakers(self) -> list[str]:
        manager = self._model.speaker_manager
        return list(manager.speakers) if manager is not None else []

    @property
    def languages(self) -> list[str]:
        return list(self._model.config.languages)

    def max_chars(self, language: str) -> int:
        return self._model.tokenizer.char_limits.get(language.split("-")[0], 250)

    def prepare(self, speaker: Speaker) -> None:
        if speaker is None and self._default_voice is None:
            self._default_voice = self._reference_voice(default_speaker_path(self._settings))
        if isinstance(speaker, CustomVoice):
            self._check_compatible(speaker)

    def _check_compatible(self, voice: CustomVoice) -> None:
        """A voice computed by a model of another size cannot condition this one."""
        channels = self._model.args.gpt_n_model_channels
        latent = voice.conditioning.get("gpt_cond_latent")
        embedding = voice.conditioning.get("speaker_embedding")
        if latent is None or embedding is None or latent.ndim != 3 or latent.shape[-1] != channels:
            raise APIError(
                400,
                f"The custom voice {voice.id} was made with another model than the one this service runs "
                f"({self._settings.coqui_model}): create it again from its audio sample.",
                param="voice",
                code="voice_incompatible",
            )

    def _conditioning(self, path: Path) -> tuple[Any, Any]:
        """XTTS's conditioning from a speech recording, with the model config's reference lengths
        (the method's own defaults differ from what XTTS is configured and trained with)."""
        config = self._model.config
        return self._model.get_conditioning_latents(
            audio_path=str(path),
            gpt_cond_len=config.gpt_cond_len,
            gpt_cond_chunk_len=config.gpt_cond_chunk_len,
            max_ref_length=config.max_ref_len,
            sound_norm_refs=config.sound_norm_refs,
        )

    def clone(self, samples: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        import soundfile

        # Coqui reads references from files: the sample goes to a private temporary one.
        with tempfile.TemporaryDirectory(prefix="voice-sample-") as folder:
            path = Path(folder) / "sample.wav"
            soundfile.write(path, samples, sample_rate)
            try:
                gpt_cond_latent, speaker_embedding = self._conditioning(path)
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise  # the lifecycle's 503 for that
                raise APIError(
                    400,
                    f"XTTS could not compute a voice from this audio sample ({type(exc).__name__}). Send 3 to 30 s "
                    "of one person speaking clearly.",
                    param="audio_sample",
                    code="invalid_audio",
                ) from exc
        # Kept on the CPU, by name; moved to the model's device when spoken with.
        return {
            "gpt_cond_latent": gpt_cond_latent.detach().float().cpu().numpy(),
            "speaker_embedding": speaker_embedding.detach().float().cpu().numpy(),
        }

    def _reference_voice(self, path: Path) -> tuple[Any, Any]:
        if not path.is_file():
            url = self._settings.default_speaker_url
            log.info("default speaker reference %s is missing; fetching it from %s", path, url)
            try:
                _fetch(url, path)
            except OSError as exc:
                raise APIError(
                    503,
                    f"This model has no built-in speakers and needs a speaker reference at {path}, which is "
                    f"missing and could not be downloaded from {url} ({exc}). Place a 3-30 s speech recording "
                    "there (or point DEFAULT_SPEAKER_WAV at one) and retry.",
                    code="speaker_reference_missing",
                    permanent=True,
                ) from exc
        try:
            return self._conditioning(path)
        except Exception as exc:  # an unreadable file: say which one, not a bare 500
            if is_out_of_memory(exc):
                raise  # the lifecycle's 503 for that
            raise APIError(
                503,
                f"The speaker reference {path} could not be used ({type(exc).__name__}: {exc}). Replace it with "
                "a 3-30 s speech recording (or point DEFAULT_SPEAKER_WAV at one) and retry.",
                code="speaker_reference_unreadable",
                permanent=True,
            ) from exc

    def _overlap(self, tokens: int) -> int:
        """Cross-fade between streamed chunks: XTTS's 1024 samples, or less for chunks so short
        that 1024 would swallow them."""
        args = self._model.args
        chunk_samples = tokens * args.gpt_code_stride_len * args.output_sample_rate // args.input_sample_rate
        return max(1, min(1024, chunk_samples // 4))

    def synthesize(
        self, text: str, *, speaker: Speaker, language: str, speed: float, streaming: bool
    ) -> Iterator[np.ndarray]:
        import torch

        if speaker is None:
            self.prepare(None)
            gpt_cond_latent, speaker_embedding = self._default_voice  # type: ignore[misc]
        elif isinstance(speaker, CustomVoice):
            device = self._model.device
            gpt_cond_latent = torch.from_numpy(speaker.conditioning["gpt_cond_latent"]).to(device)
            speaker_embedding = torch.from_numpy(speaker.conditioning["speaker_embedding"]).to(device)
        else:
            voice = self._model.speaker_manager.speakers[speaker]
            gpt_cond_latent, speaker_embedding = voice["gpt_cond_latent"], voice["speaker_embedding"]
        config = self._model.config
        tokens = self._settings.stream_chunk_tokens if streaming else 0
        chunks = self._model.inference_stream(
            text,
            language,
            gpt_cond_latent,
            speaker_embedding,
            # Each streamed chunk re-decodes the sentence so far: 0 decodes it once, at the end.
            stream_chunk_size=tokens,
            overlap_wav_len=self._overlap(tokens),
            temperature=config.temperature,
            length_penalty=config.length_penalty,
            repetition_penalty=config.repetition_penalty,
            top_k=config.top_k,
            top_p=config.top_p,
            speed=speed,  # XTTS stretches its latents: pitch is kept
        )
        while True:
            # inference_mode is per thread and each step may run on another worker thread.
            with torch.inference_mode():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk.detach().float().cpu().numpy()


def _catalog_entry(name: str) -> tuple[Any, dict[str, Any], Path] | None:
    """Coqui's model manager, its catalog entry for the model ``name`` and the folder it keeps
    it in; None when ``name`` is not in the catalog."""
    from TTS.utils.manage import ModelManager

    manager = ModelManager(progress_bar=False)
    try:
        model_type, language, dataset, model = name.split("/")
        item = manager.models_dict[model_type][language][dataset][model]
    except (ValueError, KeyError):
        return None
    return manager, item, manager.output_prefix / f"{model_type}--{language}--{dataset}--{model}"


def _model_dir(name: str) -> Path:
    """COQUI_MODEL as a directory: itself when local, else where Coqui's model manager puts it
    (downloaded on first need; XTTS v2 comes from the Hugging Face hub into its cache)."""
    local = Path(name)
    if local.is_dir():
        return local
    entry = _catalog_entry(name)
    if entry is not None:
        manager, item, folder = entry
        # The manager would ask on stdin, which a service cannot answer.
        if not manager.tos_agreed(item, folder):
            raise APIError(
                503,
                f"The Coqui model {name} needs its licence accepted: it is released under the Coqui Public Model "
                "License (non-commercial use; https://coqui.ai/cpml). Set COQUI_TOS_AGREED=1 for the TTS service "
                "to accept it (or if you hold a commercial licence), or point COQUI_MODEL at another model.",
                code="licence_not_accepted",
                permanent=True,
            )
    from TTS.utils.manage import ModelManager

    _, config_path, _ = ModelManager(progress_bar=False).download_model(name)
    return Path(config_path).parent


def _cached_model_dir(name: str) -> Path | None:
    """COQUI_MODEL's directory if it is on this machine already; never downloads."""
    local = Path(name)
    if local.is_dir():
        return local
    entry = _catalog_entry(name)
    if entry is None:
        return None
    _, item, folder = entry
    if "repo_id" not in item:  # released on GitHub: kept in the manager's own folder
        return folder if folder.is_dir() else None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(
            item["repo_id"], allow_patterns=item.get("allow"), ignore_patterns=item.get("ignore"), local_files_only=True
        )
    except LocalEntryNotFoundError:
        return None
    return Path(path)


@functools.lru_cache(maxsize=4)
def _speaker_names(path: Path, _mtime_ns: int) -> list[str]:
    import torch

    return list(torch.load(path, map_location="cpu", weights_only=True))


def coqui_table(settings: Settings) -> VoiceTable:
    """Speakers (from ``speakers_xtts.pth``) and languages (from ``config.json``) of COQUI_MODEL."""
    directory = _cached_model_dir(settings.coqui_model)
    if directory is None or not (directory / "config.json").is_file():
        return VoiceTable([], [], known=False)
    languages = json.loads((directory / "config.json").read_text()).get("languages", [])
    speakers_file = directory / SPEAKERS_FILE
    speakers = _speaker_names(speakers_file, speakers_file.stat().st_mtime_ns) if speakers_file.is_file() else []
    return VoiceTable(speakers, list(languages))


def load_coqui(settings: Settings) -> CoquiEngine:
    """Load COQUI_MODEL (an XTTS model) the way Coqui's XTTS docs do, without the generic
    Synthesizer wrapper, whose text segmenters this service does not use."""
    _allow_xtts_configs()
    from TTS.config import load_config
    from TTS.tts.models.xtts import Xtts

    model_dir = _model_dir(settings.coqui_model)
    config = load_config(str(model_dir / "config.json"))
    if config.model != "xtts":
        raise ValueError(f"{settings.coqui_model} is a {config.model} model; this service runs XTTS models")
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(model_dir), eval=True)
    _fold_weight_norm(model.hifigan_decoder)
    model.to(settings.resolved_device)
    return CoquiEngine(model, settings)
