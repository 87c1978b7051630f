"""The public request contract shared by the gateway and the backends."""

from __future__ import annotations

import io

import pytest
from fastapi import UploadFile
from pydantic import ValidationError

from common.api_types import (
    ConsentForm,
    CustomVoiceRef,
    SpeechRequest,
    TranscriptionForm,
    TranslationForm,
    VadParameters,
    VoiceForm,
    custom_voice_id,
    parse_form,
)
from common.errors import APIError, validation_error


def transcription(**fields: str | list[str]) -> TranscriptionForm:
    return parse_form(TranscriptionForm, {"model": ["whisper-1"], **_listed(fields)})


def _listed(fields: dict[str, str | list[str]]) -> dict[str, list[str]]:
    return {name.replace("__", "[]"): [value] if isinstance(value, str) else value for name, value in fields.items()}


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "Yes"])
def test_bool_true_spellings(raw: str) -> None:
    assert transcription(advanced=raw).advanced is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "NO"])
def test_bool_false_spellings(raw: str) -> None:
    assert transcription(diarize=raw).diarize is False


@pytest.mark.parametrize("raw", ["maybe", "2", "on", "t"])
def test_bool_other_values_are_400(raw: str) -> None:
    with pytest.raises(APIError) as caught:
        transcription(diarize=raw)
    assert caught.value.status == 400 and caught.value.param == "diarize"
    assert "'diarize'" in caught.value.message and "yes/no" in caught.value.message


def test_an_empty_field_is_a_field_not_sent() -> None:
    assert transcription(advanced="", language="", prompt="").model_dump() == transcription().model_dump()


def test_transcription_defaults() -> None:
    params = transcription()
    assert params.response_format == "json" and params.language is None
    assert params.advanced is False and params.diarize is True
    assert params.timestamp_granularities == ["segment"] and not params.needs_alignment
    assert params.include == [] and params.chunking_strategy is None and params.keywords == []


def test_word_granularity_implies_alignment_and_diarized_json_implies_diarization() -> None:
    words = transcription(timestamp_granularities__=["word", "segment"])
    assert words.needs_alignment and not words.needs_diarization
    assert transcription(timestamp_granularities=["word"]).word_timestamps  # without the brackets too
    diarized = transcription(response_format="diarized_json")
    assert diarized.advanced and diarized.needs_diarization


@pytest.mark.parametrize(
    ("fields", "strategy"),
    [
        ({"chunking_strategy": "auto"}, "auto"),
        ({"chunking_strategy[type]": "server_vad", "chunking_strategy[silence_duration_ms]": "900"}, (0.5, 300, 900)),
        ({"chunking_strategy": '{"type": "server_vad", "threshold": 0.3}'}, (0.3, 300, 200)),
    ],
    ids=["auto", "sdk-fields", "json-text"],
)
def test_chunking_strategy_as_clients_send_it(fields: dict[str, str], strategy: object) -> None:
    parsed = transcription(**fields).chunking_strategy
    if strategy == "auto":
        assert parsed == "auto"
    else:
        assert parsed is not None and parsed != "auto"
        assert (parsed.threshold, parsed.prefix_padding_ms, parsed.silence_duration_ms) == strategy


def test_chunking_strategy_gives_the_vads_parameters() -> None:
    assert transcription().vad == VadParameters()  # OpenAI's defaults
    assert transcription(chunking_strategy="auto").vad == VadParameters()
    tuned = transcription(**{"chunking_strategy[type]": "server_vad", "chunking_strategy[prefix_padding_ms]": "0"})
    assert tuned.vad == VadParameters(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=200)


WAV_URL = "data:audio/wav;base64,UklGRiQAAABXQVZF"


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({}, "model", "missing_required_parameter"),
        ({"model": ["tts-1"]}, "model", "model_not_found"),
        ({"model": ["whisper-1"], "response_format": ["xml"]}, "response_format", "invalid_value"),
        ({"model": ["whisper-1"], "language": ["xx"]}, "language", "unsupported_language"),
        ({"model": ["whisper-1"], "temperature": ["1.5"]}, "temperature", "invalid_value"),
        ({"model": ["whisper-1"], "min_speakers": ["0"]}, "min_speakers", "invalid_value"),
        ({"model": ["whisper-1"], "min_speakers": ["3"], "max_speakers": ["2"]}, "min_speakers", "invalid_value"),
        ({"model": ["whisper-1"], "timestamp_granularities[]": ["char"]}, "timestamp_granularities[]", None),
        ({"model": ["whisper-1"], "include[]": ["tokens"]}, "include[]", "invalid_value"),
        ({"model": ["whisper-1"], "include[]": ["logprobs"], "response_format": ["text"]}, "include[]", None),
        ({"model": ["whisper-1"], "chunking_strategy": ["manual"]}, "chunking_strategy", "invalid_value"),
        ({"model": ["whisper-1"], "chunking_strategy": ["{not json"]}, "chunking_strategy", "invalid_value"),
        ({"model": ["whisper-1"], "chunking_strategy[type]": ["semantic_vad"]}, "chunking_strategy", None),
        ({"model": ["whisper-1"], "chunking_strategy[threshold]": ["0.5"]}, "chunking_strategy", None),
        (
            {"model": ["whisper-1"], "chunking_strategy[type]": ["server_vad"], "chunking_strategy[threshold]": ["2"]},
            "chunking_strategy",
            None,
        ),
        ({"model": ["whisper-1"], "keywords[]": ["x" * 101]}, "keywords[]", None),
        ({"model": ["whisper-1"], "keywords[]": ["w"] * 101}, "keywords[]", None),
        ({"model": ["whisper-1"], "languages[]": ["en", "xx"]}, "languages[]", "unsupported_language"),
        ({"model": ["whisper-1"], "languages[]": ["en"], "language": ["de"]}, "language", "invalid_value"),
        (
            {"model": ["whisper-1"], "known_speaker_names[]": ["a"], "known_speaker_references[]": [WAV_URL]},
            "known_speaker_names[]",
            None,
        ),
        (
            {"model": ["whisper-1"], "response_format": ["diarized_json"], "known_speaker_names[]": ["a", "b"],
             "known_speaker_references[]": [WAV_URL]},
            "known_speaker_names[]",
            None,
        ),
        (
            {"model": ["whisper-1"], "response_format": ["diarized_json"], "known_speaker_names[]": ["a"] * 5,
             "known_speaker_references[]": [WAV_URL] * 5},
            "known_speaker_names[]",
            None,
        ),
        (
            {"model": ["whisper-1"], "response_format": ["diarized_json"], "known_speaker_names[]": ["a"],
             "known_speaker_references[]": ["https://example.com/a.wav"]},
            "known_speaker_references[]",
            None,
        ),
        (
            {"model": ["whisper-1"], "response_format": ["diarized_json"], "known_speaker_names[]": ["a"],
             "known_speaker_references[]": ["data:audio/wav;base64,@@@"]},
            "known_speaker_references[]",
            None,
        ),
    ],
)  # fmt: skip
def test_transcription_errors_name_the_parameter(fields: dict[str, list[str]], param: str, code: str | None) -> None:
    with pytest.raises(APIError) as caught:
        parse_form(TranscriptionForm, fields)
    assert caught.value.status == 400 and caught.value.param == param, caught.value.message
    assert code is None or caught.value.code == code


def test_known_speakers_with_diarized_json() -> None:
    form = transcription(
        response_format="diarized_json", known_speaker_names__=["agent"], known_speaker_references__=[WAV_URL]
    )
    assert form.known_speaker_names == ["agent"] and form.known_speaker_references == [WAV_URL]


def test_translation_rejects_diarized_json_and_transcription_fields() -> None:
    with pytest.raises(APIError) as caught:
        parse_form(TranslationForm, {"model": ["whisper-1"], "response_format": ["diarized_json"]})
    assert caught.value.param == "response_format"
    translation = parse_form(TranslationForm, {"model": ["whisper-1"], "advanced": ["true"], "language": ["de"]})
    assert not hasattr(translation, "advanced")  # not a translation field: ignored, as unknown fields are


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


UPLOAD = UploadFile(io.BytesIO(b"RIFF"), filename="a.wav")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"language": "en-US"}, "name"),
        ({"name": "  ", "language": "en-US"}, "name"),
        ({"name": "x", "language": "en_US"}, "language"),
        ({"name": "x", "language": "e"}, "language"),
        ({"name": "x" * 257, "language": "en"}, "name"),
        ({"name": "x", "language": "en-" + "-".join(["abcdefgh"] * 5)}, "language"),
    ],
)
def test_consent_form_errors(fields: dict[str, str], param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ConsentForm.model_validate({**fields, "recording": UPLOAD})
    error = validation_error(caught.value.errors())
    assert error.status == 400 and error.param == param


def test_consent_and_voice_forms() -> None:
    assert ConsentForm.model_validate({"name": " Jane ", "language": "zh-Hans-CN", "recording": UPLOAD}).name == "Jane"
    fields = {"name": "v", "consent": " cons_1 ", "type": "audio_sample", "audio_sample": UPLOAD}
    form = VoiceForm.model_validate(fields)
    assert (form.name, form.consent) == ("v", "cons_1")
    for fields, param in [({"type": "prompt"}, "type"), ({"consent": "cons_" + "1" * 100}, "consent")]:
        with pytest.raises(ValidationError) as caught:
            VoiceForm.model_validate({"name": "v", "consent": "cons_1", "audio_sample": UPLOAD, **fields})
        assert validation_error(caught.value.errors()).param == param
