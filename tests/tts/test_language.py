"""Which language the TTS service speaks for a request's ``language`` (pure function: no model)."""

from __future__ import annotations

import pytest

from common.errors import APIError
from coqui_tts.language import choose_language

XTTS_LIKE = ["en", "de", "es", "fr", "pt", "zh-cn"]
TEXT = "Good morning everyone, thank you for joining the meeting today."


@pytest.mark.parametrize(
    ("requested", "spoken"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("pt-BR", "pt"),
        ("zh-CN", "zh-cn"),
        ("zh", "zh-cn"),
        ("zh-TW", "zh-cn"),
    ],
)
def test_a_language_tag_speaks_the_models_language(requested: str, spoken: str) -> None:
    assert choose_language(requested, TEXT, XTTS_LIKE, "en") == spoken


@pytest.mark.parametrize("requested", [None, "", "  "])
def test_no_language_detects_it_from_the_input(requested: str | None) -> None:
    german = "Guten Morgen, vielen Dank, dass Sie heute alle gekommen sind."
    assert choose_language(requested, german, XTTS_LIKE, "en") == "de"
    assert choose_language(requested, TEXT, XTTS_LIKE, "de") == "en"


@pytest.mark.parametrize("requested", ["ja", "ja-JP", "e", "english"])
def test_a_language_the_model_lacks_is_a_400_naming_the_supported_ones(requested: str) -> None:
    with pytest.raises(APIError) as caught:
        choose_language(requested, TEXT, XTTS_LIKE, "en")
    assert caught.value.status == 400 and caught.value.param == "language"
    assert "en, de, es, fr, pt, zh-cn" in caught.value.message
