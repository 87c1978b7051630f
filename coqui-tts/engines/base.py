"""The one interface every synthesis engine implements.

Everything else (sentences, voices, language, speed, encoding, streaming, lifecycle, errors) is
shared and lives outside the engines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CustomVoice:
    """A cloned voice: what ``Engine.clone`` computed from its sample, by name, on the CPU."""

    id: str
    name: str
    conditioning: dict[str, np.ndarray]

    @property
    def label(self) -> str:
        """How logs name it: id and name, nothing else about the voice."""
        return f"{self.id} {self.name!r}"


Speaker = str | CustomVoice | None
"""A built-in speaker name, a custom voice, or None for the default speaker reference."""


@dataclass(frozen=True)
class VoiceTable:
    """A model's built-in speakers and languages, read from its files without loading it.
    ``known`` is False when the model is not on this machine yet (it is fetched on first use)."""

    speakers: list[str]
    languages: list[str]
    known: bool = True


class Engine(ABC):
    """A loaded model that turns one sentence into mono float PCM at ``sample_rate``."""

    sample_rate: int

    @property
    @abstractmethod
    def speakers(self) -> list[str]:
        """Built-in speaker names, in the model's order (may be empty)."""

    @property
    @abstractmethod
    def languages(self) -> list[str]:
        """Language codes the model speaks, e.g. ``en``, ``zh-cn``."""

    def max_chars(self, language: str) -> int:
        """Longest text handed to ``synthesize`` at once; longer sentences are split further."""
        return 400

    def prepare(self, speaker: Speaker) -> None:  # noqa: B027 - optional hook
        """Get ready to speak as ``speaker`` (None: the default reference); may raise APIError."""

    def clone(self, samples: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """The conditioning of a new custom voice, from mono float samples of its speech. Only
        engines whose EngineSpec says ``clones`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot clone voices")

    @abstractmethod
    def synthesize(
        self, text: str, *, speaker: Speaker, language: str, speed: float, streaming: bool
    ) -> Iterator[np.ndarray]:
        """Float32 PCM chunks in [-1, 1] for ``text``, as they are ready. ``streaming`` asks for
        small early chunks; without it an engine may produce the sentence in one piece, faster."""
