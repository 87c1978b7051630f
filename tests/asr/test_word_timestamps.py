"""timestamp_granularities[]=word: WhisperX alignment when an alignment model is configured, else
Whisper's own word timestamps on the loaded model: never a 503 for lack of an aligner.

The aligned case runs WhisperX's real alignment with the tiny untrained aligner (its word times
are real CTC alignments of an untrained model, so only their shape is checked); Whisper's own
times come from the real tiny.en model and are checked against where the speech is.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.servers import Server, run_service
from fixtures.speech import SENTENCES, speech_file, transcript_of
from fixtures.wer import word_error_rate
from tests.asr.conftest import asr_env, transcribe
from tests.asr.test_transcription import MAX_WER, assert_monotonic

CLIP = SENTENCES[:2]
PAUSE = 2.0  # seconds of silence between the two sentences


def _words(server: Server, path: Path) -> tuple[dict[str, Any], str]:
    """verbose_json with word timestamps, and the method the service logged for this request."""
    request_id = os.urandom(8).hex()
    response = transcribe(
        server, path, response_format="verbose_json", headers={"x-request-id": request_id},
        **{"timestamp_granularities[]": ["word", "segment"]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    methods = re.findall(rf"\[{request_id}\] asr\.transcribe: word timestamps: (.+)", server.log())
    assert len(methods) == 1, methods  # one line per request, whatever the number of segments
    return response.json(), methods[0]


def assert_words_spell_the_text(body: dict[str, Any]) -> None:
    words = body["words"]
    assert words and all(set(w) == {"word", "start", "end"} for w in words)
    assert " ".join(w["word"] for w in words) == body["text"]
    assert_monotonic([(w["start"], w["end"]) for w in words], body["duration"])  # ordered, no overlap
    assert all(0 <= w["start"] <= w["end"] <= body["duration"] for w in words)
    assert word_error_rate(transcript_of(CLIP), body["text"]) <= MAX_WER


def test_without_an_aligner_words_come_from_whisper_where_they_are_spoken(asr: Server) -> None:
    body, method = _words(asr, speech_file(CLIP, "wav", pause=PAUSE))
    assert method == "Whisper cross-attention (no alignment model configured)"
    assert_words_spell_the_text(body)
    # Real timing, not spread over the segment: the longest gap between two words is the pause
    # between the sentences, after the first sentence's last word.
    words = body["words"]
    gap, before = max((b["start"] - a["end"], a["word"]) for a, b in itertools.pairwise(words))
    assert gap >= PAUSE - 0.6, words
    assert before.lower().strip(".,") == "today", words
    assert words[0]["start"] < 0.5 and words[-1]["end"] > body["duration"] - 1.0, words


def test_with_the_aligner_configured_words_come_from_whisperx(chunked_asr: Server) -> None:
    body, method = _words(chunked_asr, speech_file(CLIP, "ogg"))
    assert method.startswith("WhisperX alignment (align:"), method
    assert_words_spell_the_text(body)


@pytest.fixture(scope="module")
def broken_aligner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """WHISPERX_ALIGN_MODEL names a directory that does not exist (a mistyped setting)."""
    tmp = tmp_path_factory.mktemp("asr-broken-aligner")
    with run_service("asr", asr_env(tmp, WHISPERX_ALIGN_MODEL=str(tmp / "no-such-aligner")), tmp_dir=tmp) as server:
        yield server


def test_an_aligner_that_cannot_load_falls_back_to_whisper_words(broken_aligner: Server) -> None:
    body, method = _words(broken_aligner, speech_file(CLIP, "wav"))
    assert method.startswith("Whisper cross-attention (alignment model 'align:") and "could not be loaded" in method
    assert_words_spell_the_text(body)


def test_advanced_asks_for_whisperx_alignment_and_its_failure_is_permanent(broken_aligner: Server) -> None:
    response = transcribe(broken_aligner, speech_file(CLIP, "wav"), advanced="true", diarize="false")
    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"
    assert "WHISPERX_ALIGN_MODEL" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "model_unavailable"
