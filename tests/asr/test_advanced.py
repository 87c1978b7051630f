"""advanced=true: WhisperX alignment and diarization, and long audio in chunks.

What cannot exist offline is replaced by local stand-ins built through the same libraries:
- alignment weights: a tiny randomly initialised Wav2Vec2ForCTC (fixtures/asr_models.py)
  runs WhisperX's real alignment; its word times are real CTC alignments of an untrained model,
  so tests check their shape and order, not where each word really is;
- the pyannote pipeline (gated on the hub): the loudness-based stand-in in
  tests/asr/diarization_standin.py; WhisperX's DiarizationPipeline and assign_word_speakers and
  all of the service's code run for real.
"""

from __future__ import annotations

import collections
import json

import pytest

from fixtures.servers import Server
from fixtures.speech import MORE_SENTENCES, SENTENCES, conversation_file, decode, speech_file, transcript_of
from fixtures.wer import word_error_rate, words
from tests.asr.conftest import CHUNK_SECONDS, transcribe
from tests.asr.test_transcription import MAX_WER, assert_monotonic

CLIP = SENTENCES[:2]
LONG = SENTENCES + MORE_SENTENCES  # ~28-30 s: four 10 s chunks with 3 s overlaps
# Loud, quiet, loud with 1.5 s pauses (~11.8 s: two chunks). The quiet sentence runs into the
# second chunk (which starts at 7 s), so that chunk's diarization hears the quiet voice first.
DIALOGUE = (SENTENCES[0], SENTENCES[2], SENTENCES[1])
DIALOGUE_PAUSE = 1.5


def test_advanced_without_diarization_has_aligned_words(chunked_asr: Server) -> None:
    response = transcribe(chunked_asr, speech_file(CLIP, "wav"), advanced="true", diarize="false")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"text", "language", "segments", "usage"}  # no speaker keys when not diarized
    assert body["usage"] == {"type": "duration", "seconds": pytest.approx(6.4, abs=0.2)}
    assert body["language"] == "en"
    assert word_error_rate(transcript_of(CLIP), body["text"]) <= MAX_WER
    for index, segment in enumerate(body["segments"]):
        assert set(segment) == {"id", "start", "end", "text", "words"}
        assert segment["id"] == index
        assert segment["words"] and all(set(w) == {"word", "start", "end"} for w in segment["words"])
        assert " ".join(w["word"] for w in segment["words"]) == segment["text"]
    words = [w for s in body["segments"] for w in s["words"]]
    assert_monotonic([(w["start"], w["end"]) for w in words], 7.0)


def test_diarization_without_hf_token_is_a_permanent_503_saying_so(asr: Server) -> None:
    for fields in ({"advanced": "true"}, {"response_format": "diarized_json"}):
        response = transcribe(asr, speech_file(CLIP, "wav"), **fields)
        assert response.status_code == 503
        assert response.headers["x-should-retry"] == "false"  # the OpenAI SDKs do not retry it
        error = response.json()["error"]
        assert "HF_TOKEN" in error["message"] and "diarize=false" in error["message"]


def test_diarized_json_has_openai_shape(chunked_asr: Server) -> None:
    response = transcribe(chunked_asr, conversation_file(CLIP), response_format="diarized_json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"task", "duration", "text", "segments", "usage"}
    assert body["usage"] == {"type": "duration", "seconds": body["duration"]}
    assert body["task"] == "transcribe"
    assert word_error_rate(transcript_of(CLIP), body["text"]) <= MAX_WER
    for index, segment in enumerate(body["segments"]):
        assert segment["type"] == "transcript.text.segment"
        assert segment["id"] == f"seg_{index}"
        assert segment["speaker"] in {"SPEAKER_00", "SPEAKER_01"}


def _speakers_by_sentence(body: dict, sentences: tuple[str, ...]) -> list[str]:
    """The diarization turn labels, one per spoken sentence (the stand-in gives one turn each)."""
    turns = body["diarization"]
    assert len(turns) == len(sentences), turns
    return [t["speaker"] for t in turns]


def test_advanced_diarization_labels_turns_segments_and_words(chunked_asr: Server) -> None:
    response = transcribe(chunked_asr, conversation_file(CLIP), advanced="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert _speakers_by_sentence(body, CLIP) == ["SPEAKER_00", "SPEAKER_01"]
    for segment in body["segments"]:
        assert segment["speaker"] in body["speakers"]
        for word in segment["words"]:
            # Each word carries the speaker of the turn it falls in (word times come from the
            # untrained aligner, but the speaker assignment must follow them exactly).
            middle = (word["start"] + word["end"]) / 2
            covering = [t["speaker"] for t in body["diarization"] if t["start"] <= middle <= t["end"]]
            if covering:
                assert word["speaker"] == covering[0]


def test_max_speakers_is_passed_to_the_diarization_pipeline(chunked_asr: Server) -> None:
    body = transcribe(chunked_asr, conversation_file(CLIP), advanced="true", max_speakers="1").json()
    assert body["speakers"] == ["SPEAKER_00"]
    body = transcribe(chunked_asr, conversation_file(CLIP), advanced="true", min_speakers="1", max_speakers="4").json()
    assert body["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert "min_speakers=1 max_speakers=4" in chunked_asr.log()


def test_speakers_stay_consistent_across_chunks(chunked_asr: Server) -> None:
    """Chunk two starts with the quiet voice, which the diarizer then calls SPEAKER_00 locally;
    the service must still report it under the label chunk one gave it."""
    body = transcribe(chunked_asr, conversation_file(DIALOGUE, pause=DIALOGUE_PAUSE), advanced="true").json()
    assert _speakers_by_sentence(body, DIALOGUE) == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    assert body["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert word_error_rate(transcript_of(DIALOGUE), body["text"]) <= MAX_WER


def test_speaker_silent_in_an_overlap_is_matched_by_voice(chunked_asr: Server) -> None:
    """Over 30 s in 10 s chunks some overlaps hold only one voice; the other is recognised by
    its speaker embedding when it speaks again."""
    body = transcribe(chunked_asr, conversation_file(LONG), advanced="true").json()
    assert _speakers_by_sentence(body, LONG) == ["SPEAKER_00", "SPEAKER_01"] * 4


def _trigrams(text: str) -> collections.Counter[tuple[str, ...]]:
    said = words(text)
    return collections.Counter(zip(said, said[1:], said[2:], strict=False))


@pytest.mark.parametrize("stream", [False, True])
def test_long_audio_in_chunks_keeps_every_word_once(chunked_asr: Server, stream: bool) -> None:
    path = speech_file(LONG, "mp3")
    response = transcribe(chunked_asr, path, response_format="verbose_json", stream=str(stream).lower())
    assert response.status_code == 200, response.text
    if stream:
        blocks = [b.removeprefix("data: ") for b in response.text.split("\n\n") if b]
        assert len(blocks) >= 4  # a delta per chunk (at least three) and the final event
        text = json.loads(blocks[-1])["text"]
    else:
        body = response.json()
        assert body["duration"] == pytest.approx(len(decode(path)) / 16000, abs=0.05)
        assert body["duration"] > 2 * CHUNK_SECONDS
        assert_monotonic([(s["start"], s["end"]) for s in body["segments"]], body["duration"])
        assert body["segments"][-1]["end"] > 2 * CHUNK_SECONDS  # times are shifted to the whole file
        text = body["text"]
    reference = transcript_of(LONG)
    assert word_error_rate(reference, text) <= MAX_WER, text
    # No duplicated overlap: no run of three words is heard more often than it was said.
    said, heard = _trigrams(reference), _trigrams(text)
    assert {t: n for t, n in heard.items() if n > said.get(t, 1)} == {}


def test_short_audio_is_not_chunked_and_matches_the_unchunked_service(asr: Server, chunked_asr: Server) -> None:
    path = speech_file(CLIP, "wav")  # shorter than the 10 s threshold
    plain = transcribe(asr, path, response_format="verbose_json").json()
    chunked = transcribe(chunked_asr, path, response_format="verbose_json").json()
    assert chunked == plain
