"""Which built-in speaker each public voice name means (pure logic, no model)."""

from __future__ import annotations

import pytest

from common.api_types import OPENAI_VOICES
from coqui_tts.settings import DEFAULT_VOICE_MAP, Settings
from coqui_tts.voices import map_voices

XTTS_V2_SPEAKERS = [*DEFAULT_VOICE_MAP.values(), "Gitta Nikolina", "Baldur Sanjin"]  # a subset of the real list


def test_default_table_gives_every_openai_voice_a_distinct_xtts_v2_speaker() -> None:
    voices = map_voices(XTTS_V2_SPEAKERS, DEFAULT_VOICE_MAP)

    assert set(voices.openai) == set(OPENAI_VOICES)
    assert len(set(voices.openai.values())) == len(OPENAI_VOICES)
    assert voices.openai["alloy"] != voices.openai["onyx"]
    assert voices.note is None


def test_speakers_missing_from_the_model_are_spread_round_robin() -> None:
    voices = map_voices(["A", "B", "C"], {"alloy": "B"})

    assert voices.openai["alloy"] == "B"
    assert set(voices.openai.values()) == {"A", "B", "C"}
    counts = [list(voices.openai.values()).count(name) for name in "ABC"]
    assert max(counts) - min(counts) <= 1
    assert "round-robin" in (voices.note or "")


@pytest.mark.parametrize(
    ("voice", "speaker"),
    [("Ana Florence", "Ana Florence"), ("ana FLORENCE", "Ana Florence"), ("Marin", "Ana Florence"),
     ("onyx", "Damien Black"), ("no-such-voice", "Claribel Dervla")],
)  # fmt: skip
def test_resolve(voice: str, speaker: str) -> None:
    assert map_voices(XTTS_V2_SPEAKERS, DEFAULT_VOICE_MAP).resolve(voice)[0] == speaker


def test_model_without_builtins_uses_the_default_reference() -> None:
    voices = map_voices([], DEFAULT_VOICE_MAP)

    assert voices.resolve("alloy") == (None, "default speaker reference")
    assert set(voices.openai.values()) == {None}


def test_voice_map_setting_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_MAP", '{"alloy": "Viktor Eka"}')

    assert map_voices(["Ana Florence", "Viktor Eka"], Settings().voice_map).openai["alloy"] == "Viktor Eka"
