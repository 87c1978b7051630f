"""OpenAI's newer transcription options on real tiny.en and real Piper speech: include[]=logprobs,
keywords[], languages[] and chunking_strategy, each through the official SDK and as raw form
fields, with the responses checked against OpenAI's published schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fixtures import asr_models
from fixtures.conformance.schemas import validate
from fixtures.servers import Server
from fixtures.speech import SENTENCES, conversation_file, decode, speech_file
from fixtures.wer import word_error_rate
from tests.asr.conftest import transcribe
from tests.asr.test_transcription import CLIP, MAX_WER, REFERENCE


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(block.removeprefix("data: ")) for block in response.text.split("\n\n") if block]


def assert_tokens_spell(tokens: list[dict[str, Any]], text: str) -> None:
    """Tokens in order: their texts join to ``text`` and their bytes to its UTF-8 bytes."""
    assert tokens
    assert "".join(t["token"] for t in tokens) == text
    assert b"".join(bytes(map(int, t["bytes"])) for t in tokens) == text.encode()  # the SDK reads floats
    assert all(t["logprob"] <= 0 for t in tokens)


# -- include[]=logprobs -------------------------------------------------------------------------------


def test_logprobs_through_the_sdk_are_whispers_tokens_joining_to_the_text(asr: Server) -> None:
    with speech_file(CLIP, "wav").open("rb") as file:
        result = sdk(asr).audio.transcriptions.create(
            model="whisper-1", file=file, response_format="json", include=["logprobs"]
        )
    body = result.model_dump(exclude_none=True)
    validate("CreateTranscriptionResponseJson", body)
    assert word_error_rate(REFERENCE, result.text) <= MAX_WER
    assert_tokens_spell(body["logprobs"], result.text)
    words = result.text.split()
    assert len(body["logprobs"]) >= len(words)  # a token per word at least (punctuation is its own)
    assert body["logprobs"][0]["token"] == words[0]  # "Good": a whole word is one token
    # Clear synthetic speech: the decoder is sure of nearly every token.
    assert sum(t["logprob"] for t in body["logprobs"]) / len(body["logprobs"]) > -0.3


def test_logprobs_are_the_decoders_own(asr: Server) -> None:
    """The per-token log probabilities add up to the score the decoder gave the segment
    (verbose_json's avg_logprob: the sum over the tokens and the end-of-text token, over their
    count), so they are the probabilities Whisper decoded with."""
    path = speech_file(CLIP, "wav")
    tokens = transcribe(asr, path, **{"include[]": "logprobs"}).json()["logprobs"]
    segments = transcribe(asr, path, response_format="verbose_json").json()["segments"]
    assert len(segments) == 1 and len(segments[0]["tokens"]) == len(tokens)
    mean = sum(t["logprob"] for t in tokens) / (len(tokens) + 1)
    assert mean == pytest.approx(segments[0]["avg_logprob"], abs=0.02)


def test_streamed_logprobs_ride_on_each_delta_and_on_done(asr: Server) -> None:
    response = transcribe(asr, speech_file(CLIP, "mp3"), stream="true", **{"include[]": "logprobs"})
    assert response.status_code == 200, response.text
    events = sse_events(response)
    *deltas, done = events
    validate("TranscriptTextDoneEvent", done)
    for delta in deltas:
        validate("TranscriptTextDeltaEvent", delta)
        assert_tokens_spell(delta["logprobs"], delta["delta"])
    assert_tokens_spell(done["logprobs"], done["text"])
    assert [t for d in deltas for t in d["logprobs"]] == done["logprobs"]
    with speech_file(CLIP, "mp3").open("rb") as file:
        streamed = list(sdk(asr).audio.transcriptions.create(
            model="whisper-1", file=file, stream=True, include=["logprobs"]
        ))  # fmt: skip
    assert streamed[-1].type == "transcript.text.done"
    assert [t.model_dump() for t in streamed[-1].logprobs] == done["logprobs"]


def test_without_include_no_logprobs(asr: Server) -> None:
    assert "logprobs" not in transcribe(asr, speech_file(CLIP, "wav")).json()


@pytest.mark.parametrize("response_format", ["text", "verbose_json", "srt"])
def test_logprobs_need_json(asr: Server, response_format: str) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), response_format=response_format, **{"include[]": "logprobs"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "include[]"


def test_token_bytes_are_raw_and_characters_split_across_tokens_join_whole() -> None:
    """Byte-level BPE on tiny.en's own vocabulary: a character of several bytes may span tokens;
    its bytes stay raw and its text goes with the token that completes it."""
    from tokenizers import Tokenizer

    from asr.logprobs import between, rendered, token_bytes

    vocabulary = Tokenizer.from_file(str(Path(asr_models.tiny_en_path()) / "tokenizer.json"))
    text = " Tōkyō’s naïve café: 東京"
    ids = vocabulary.encode(text, add_special_tokens=False).ids
    tokens = rendered([(token_bytes(vocabulary, i), -0.5) for i in ids])
    joined = text.removeprefix(" ")  # the first token's leading space is dropped, as in the transcript
    assert_tokens_spell([t.model_dump() for t in tokens], joined)
    assert any(t.token == "" for t in tokens)  # a token that only begins a character
    start = joined.index("café")
    picked = between(tokens, start - 1, start + len("café:"))  # " café:" (the space starts its token)
    assert "".join(t.token for t in picked) == " café:"


# -- keywords[] -----------------------------------------------------------------------------------------

MADE_UP = "Please send the final report to Zorblax before Friday."  # tiny.en alone hears "Zor Blacks"


def test_a_made_up_keyword_is_spelled_as_given(asr: Server) -> None:
    path = speech_file(MADE_UP, "wav")
    plain = transcribe(asr, path).json()["text"]
    assert "Zorblax" not in plain  # what the keyword changes
    with path.open("rb") as file:
        hinted = sdk(asr).audio.transcriptions.create(
            model="whisper-1", file=file, keywords=["Zorblax", "Friday"], response_format="verbose_json"
        )
    assert "Zorblax" in hinted.text, hinted.text
    assert word_error_rate(MADE_UP, hinted.text) == 0
    raw = transcribe(asr, path, **{"keywords[]": ["quarterly budget", "Zorblax"]}).json()["text"]
    assert "Zorblax" in raw


def test_keywords_past_whispers_prompt_budget_are_400(asr: Server) -> None:
    """faster-whisper keeps 223 tokens of hotwords: more would be cut silently, so they are refused."""
    keywords = [f"Zorblax{index} Quorvath{index}" for index in range(40)]  # ~400 tokens, within OpenAI's limits
    response = transcribe(asr, speech_file(MADE_UP, "wav"), **{"keywords[]": keywords})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "keywords[]" and "223" in error["message"]


# -- languages[] ---------------------------------------------------------------------------------------


def test_languages_report_the_one_detected_among_them(asr: Server) -> None:
    """tiny.en is English-only: it can show the restriction's shape with English among the
    candidates, not a choice between spoken languages (``likeliest`` below is that choice)."""
    path = speech_file(CLIP, "wav")
    with path.open("rb") as file:
        result = sdk(asr).audio.transcriptions.create(model="whisper-1", file=file, languages=["de", "en"])
    body = result.model_dump(exclude_none=True)
    validate("CreateTranscriptionResponseJson", body)
    assert body["languages"] == [{"code": "en"}]
    assert word_error_rate(REFERENCE, result.text) <= MAX_WER
    verbose = transcribe(asr, path, response_format="verbose_json", **{"languages[]": ["en", "fr"]}).json()
    validate("CreateTranscriptionResponseVerboseJson", verbose)
    assert verbose["languages"] == [{"code": "en"}] and verbose["language"] == "english"
    assert "languages" not in transcribe(asr, path).json()  # only when asked for


def test_likeliest_language_is_the_most_probable_candidate() -> None:
    from asr.languages import likeliest

    # faster-whisper's all_language_probs: every language Whisper knows, most probable first.
    probabilities = [("en", 0.55), ("de", 0.25), ("nl", 0.12), ("fr", 0.05), ("es", 0.03)]
    assert likeliest(probabilities, ["fr", "nl", "de"]) == "de"  # English is not a candidate
    assert likeliest(probabilities, ["es", "fr"]) == "fr"
    assert likeliest(probabilities, ["en", "de"]) == "en"
    assert likeliest(probabilities, ["ja", "ko"]) == "ja"  # none scored: the first named


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"languages[]": ["de", "fr"]}, "languages[]", "unsupported_language"),  # the model only knows English
        ({"languages[]": ["en", "xx"]}, "languages[]", "unsupported_language"),
        ({"languages[]": ["en"], "language": "de"}, "language", "invalid_value"),
    ],
)
def test_languages_the_model_cannot_hear_are_400(asr: Server, fields: dict[str, Any], param: str, code: str) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error
    if fields["languages[]"] == ["en", "xx"]:
        assert "'xx'" in error["message"] and "Supported: af, am, ar" in error["message"]


# -- chunking_strategy -----------------------------------------------------------------------------------

TWO_PHRASES = SENTENCES[1:3]  # with a 0.6 s pause between them


def segments_of(server: Server, path: Path, chunking_strategy: str) -> list[dict[str, Any]]:
    response = transcribe(server, path, response_format="verbose_json", chunking_strategy=chunking_strategy)
    assert response.status_code == 200, response.text
    validate("CreateTranscriptionResponseVerboseJson", response.json())
    return response.json()["segments"]


def test_server_vad_parameters_change_the_cut(asr: Server) -> None:
    """Each region the VAD finds is a segment: a 200 ms silence_duration_ms splits the two phrases
    at their pause, a 1000 ms one keeps them together (as JSON text, and as the SDK sends it)."""
    path = speech_file(TWO_PHRASES, "wav")
    split = segments_of(asr, path, json.dumps({"type": "server_vad", "silence_duration_ms": 200}))
    assert len(split) == 2 and all(
        word_error_rate(t, s["text"]) <= 0.15 for s, t in zip(split, TWO_PHRASES, strict=True)
    )
    first_phrase = len(decode(speech_file(TWO_PHRASES[0], "wav"))) / 16000
    assert split[0]["end"] <= split[1]["start"] and first_phrase - 0.3 < split[0]["end"] < first_phrase + 0.6
    with path.open("rb") as file:
        merged = sdk(asr).audio.transcriptions.create(
            model="whisper-1", file=file, response_format="verbose_json",
            chunking_strategy={"type": "server_vad", "silence_duration_ms": 1000, "prefix_padding_ms": 300},
        )  # fmt: skip
    assert len(merged.segments) == 1 and word_error_rate(" ".join(TWO_PHRASES), merged.text) <= MAX_WER
    padded = segments_of(asr, path, json.dumps({"type": "server_vad", "prefix_padding_ms": 0}))
    assert padded[1]["start"] == pytest.approx(split[1]["start"] + 0.3, abs=0.01)  # 300 ms less audio before


def test_auto_normalises_loudness_before_the_cut(asr: Server) -> None:
    """Very quiet speech (-70 dBFS): the VAD's absolute threshold loses the pause between the phrases
    and Whisper hears it badly, until "auto" brings it to a normal loudness first."""
    quiet = conversation_file(TWO_PHRASES, gains=(0.002,), pause=0.6)
    as_is = segments_of(asr, quiet, json.dumps({"type": "server_vad"}))
    auto = segments_of(asr, quiet, "auto")
    assert len(as_is) < 2 and len(auto) == 2
    assert word_error_rate(" ".join(TWO_PHRASES), " ".join(s["text"] for s in auto)) <= MAX_WER


def test_without_chunking_strategy_regions_are_packed_into_whispers_window(asr: Server) -> None:
    """Unset keeps WhisperX's way: speech regions packed together into spans of up to 30 s."""
    segments = transcribe(asr, speech_file(TWO_PHRASES, "wav"), response_format="verbose_json").json()["segments"]
    assert len(segments) == 1


@pytest.mark.parametrize(
    "value", ["manual", '{"type": "semantic_vad"}', '{"type": "server_vad", "threshold": 1.5}', "{not json"]
)
def test_bad_chunking_strategies_are_400(asr: Server, value: str) -> None:
    response = transcribe(asr, speech_file(CLIP, "wav"), chunking_strategy=value)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "chunking_strategy"
