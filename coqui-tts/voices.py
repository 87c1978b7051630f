"""Which speaker a public ``voice`` name means (docs/api.md, /v1/audio/speech ``voice``).

Order: a built-in speaker name (any case), then an OpenAI voice name through VOICE_MAP, then the
first built-in speaker. A model without built-ins speaks with the default reference (None).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.api_types import OPENAI_VOICES


@dataclass(frozen=True)
class Voices:
    builtin: list[str]
    openai: dict[str, str | None]  # OpenAI name -> built-in speaker (None: default reference)
    note: str | None

    def resolve(self, voice: str) -> tuple[str | None, str]:
        """(speaker, why) for a requested voice name."""
        if not self.builtin:
            return None, "default speaker reference"
        wanted = voice.strip().lower()
        for name in self.builtin:
            if name.lower() == wanted:
                return name, "built-in speaker"
        if wanted in self.openai:
            return self.openai[wanted], f"OpenAI voice {wanted!r}"
        return self.builtin[0], f"unknown voice {voice!r}: first built-in speaker"


def map_voices(builtin: list[str], table: dict[str, str]) -> Voices:
    """Map every OpenAI voice to a built-in speaker, distinct ones as long as there are enough.

    Table entries the model does not have are spread round-robin, speakers the table leaves
    unused first, so alloy and onyx still sound different on any multi-speaker model.
    """
    if not builtin:
        note = "This model has no built-in speakers: every voice uses the default speaker reference."
        return Voices([], dict.fromkeys(OPENAI_VOICES), note)
    by_lower = {name.lower(): name for name in builtin}
    table = {key.lower(): value for key, value in table.items()}
    mapping: dict[str, str | None] = {}
    missing: list[str] = []
    for name in OPENAI_VOICES:
        speaker = by_lower.get(table.get(name, "").lower())
        if speaker is None:
            missing.append(name)
        else:
            mapping[name] = speaker
    taken = set(mapping.values())
    pool = [s for s in builtin if s not in taken] + [s for s in builtin if s in taken]
    for index, name in enumerate(missing):
        mapping[name] = pool[index % len(pool)]
    note = None
    if len(builtin) < len(OPENAI_VOICES):
        note = (
            f"This model has {len(builtin)} built-in speaker(s) for {len(OPENAI_VOICES)} OpenAI voices: "
            "they are spread round-robin, so some voices share a speaker."
        )
    return Voices(list(builtin), {name: mapping[name] for name in OPENAI_VOICES}, note)
