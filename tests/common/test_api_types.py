"""The public request contract shared by the gateway and the backends."""

from __future__ import annotations

import pytest

from common.api_types import (
    CustomVoiceRef,
    SpeechRequest,
    custom_voice_id,
    parse_bool,
    parse_consent_form,
    parse_transcription_form,
    parse_voice_form,
)
from common.errors import APIError


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "Yes"])
def test_bool_true_spellings(raw: str) -> None:
    assert parse_bool(raw, "advanced", False) is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "NO"])
def test_bool_false_spellings(raw: str) -> None:
    assert parse_bool(raw, "advanced", True) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "on", "t"])
def test_bool_other_values_are_400(raw: str) -> None:
    with pytest.raises(APIError) as caught:
        parse_bool(raw, "diarize", True)
    assert caught.value.status == 400 and caught.value.param == "diarize"


def test_transcription_defaults() -> None:
    params = parse_transcription_form({"model": ["whisper-1"]}, "transcribe")
    assert params.response_format == "json" and params.language is None
    assert params.advanced is False and params.diarize is True
    assert params.timestamp_granularities == ("segment",) and not params.needs_alignment


def test_word_granularity_implies_alignment_and_diarized_json_implies_diarization() -> None:
    words = parse_transcription_form(
        {"model": ["turbo"], "timestamp_granularities[]": ["word", "segment"]}, "transcribe"
    )
    assert words.needs_alignment and not words.needs_diarization
    diarized = parse_transcription_form({"model": ["turbo"], "response_format": ["diarized_json"]}, "transcribe")
    assert diarized.advanced and diarized.needs_diarization


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({}, "model"),
        ({"model": ["tts-1"]}, "model"),
        ({"model": ["whisper-1"], "response_format": ["xml"]}, "response_format"),
        ({"model": ["whisper-1"], "language": ["xx"]}, "language"),
        ({"model": ["whisper-1"], "temperature": ["1.5"]}, "temperature"),
        ({"model": ["whisper-1"], "min_speakers": ["0"]}, "min_speakers"),
        ({"model": ["whisper-1"], "min_speakers": ["3"], "max_speakers": ["2"]}, "min_speakers"),
        ({"model": ["whisper-1"], "timestamp_granularities[]": ["char"]}, "timestamp_granularities[]"),
    ],
)
def test_transcription_errors_name_the_parameter(fields: dict[str, list[str]], param: str) -> None:
    with pytest.raises(APIError) as caught:
        parse_transcription_form(fields, "transcribe")
    assert caught.value.status == 400 and caught.value.param == param


def test_translation_rejects_diarized_json() -> None:
    with pytest.raises(APIError) as caught:
        parse_transcription_form({"model": ["whisper-1"], "response_format": ["diarized_json"]}, "translate")
    assert caught.value.param == "response_format"


@pytest.mark.parametrize(
    ("voice", "custom"),
    [
        ({"id": "voice_abc"}, "voice_abc"),
        ("voice_abc", "voice_abc"),
        (" voice_abc ", "voice_abc"),
        ("alloy", None),
        ("Ana Florence", None),
    ],
)
def test_speech_voice_is_a_name_or_a_custom_voice(voice: object, custom: str | None) -> None:
    request = SpeechRequest.model_validate({"model": "tts-1", "input": "Hi.", "voice": voice})
    assert isinstance(request.voice, CustomVoiceRef if isinstance(voice, dict) else str)
    assert custom_voice_id(request.voice) == custom
    assert SpeechRequest.model_validate(request.model_dump()) == request  # what the gateway forwards


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"language": ["en-US"]}, "name"),
        ({"name": ["x"], "language": ["en_US"]}, "language"),
        ({"name": ["x"], "language": ["e"]}, "language"),
        ({"name": ["x" * 257], "language": ["en"]}, "name"),
        ({"name": ["x"], "language": ["en-" + "-".join(["abcdefgh"] * 5)]}, "language"),
    ],
)
def test_consent_form_errors(fields: dict[str, list[str]], param: str) -> None:
    with pytest.raises(APIError) as caught:
        parse_consent_form(fields)
    assert caught.value.status == 400 and caught.value.param == param


def test_consent_and_voice_forms() -> None:
    assert parse_consent_form({"name": [" Jane "], "language": ["zh-Hans-CN"]}).name == "Jane"
    form = parse_voice_form({"name": ["v"], "consent": ["cons_1"], "type": ["audio_sample"]})
    assert (form.name, form.consent) == ("v", "cons_1")
    with pytest.raises(APIError) as caught:
        parse_voice_form({"name": ["v"], "consent": ["cons_1"], "type": ["prompt"]})
    assert caught.value.param == "type"
    with pytest.raises(APIError) as caught:
        parse_voice_form({"name": ["v"], "consent": ["cons_" + "1" * 100]})
    assert caught.value.param == "consent"
