"""known_speaker_names[] / known_speaker_references[] with diarized_json: diarized speakers named
after reference clips of their voices.

On the stand-in diarization pipeline of tests/asr/diarization_standin.py (pyannote's is gated on
the hub and cannot exist here): it tells two voices apart by loudness and embeds them one-hot, so
a loud reference is the loud speaker's voice. The references are embedded by that same pipeline,
through the service's own code, as a real pyannote pipeline would embed them.
"""

from __future__ import annotations

import base64

import openai
import pytest

from fixtures.conformance.schemas import validate
from fixtures.servers import Server
from fixtures.speech import SENTENCES, conversation_file, silence_file, speech_file
from tests.asr.conftest import transcribe
from tests.asr.test_advanced import CLIP, DIALOGUE, DIALOGUE_PAUSE

LOUD, QUIET = (1.0,), (0.2,)  # the stand-in's two voices (conversation_file gains)


def data_url(path_bytes: bytes, media_type: str = "audio/wav") -> str:
    return f"data:{media_type};base64,{base64.b64encode(path_bytes).decode()}"


def reference(gains: tuple[float, ...], sentence: str = SENTENCES[3]) -> str:
    """~3 s of a voice, other words than the conversation's."""
    return data_url(conversation_file((sentence,), gains=gains).read_bytes())


def test_diarized_speakers_take_the_names_of_their_references_through_the_sdk(chunked_asr: Server) -> None:
    client = openai.OpenAI(base_url=f"{chunked_asr.url}/v1", api_key="unused", max_retries=0)
    with conversation_file(CLIP).open("rb") as file:  # loud sentence, then quiet sentence
        result = client.audio.transcriptions.create(
            model="whisper-1", file=file, response_format="diarized_json",
            known_speaker_names=["bob", "alice"], known_speaker_references=[reference(QUIET), reference(LOUD)],
        )  # fmt: skip
    body = result.model_dump(exclude_none=True)
    validate("CreateTranscriptionResponseDiarizedJson", body)
    # Segment times come from the untrained stand-in aligner, so which segment is whose is not
    # checked here (the turns below are); every speaker is named.
    assert {segment["speaker"] for segment in body["segments"]} <= {"alice", "bob"}
    fields = {
        "known_speaker_names[]": ["bob", "alice"],
        "known_speaker_references[]": [reference(QUIET), reference(LOUD)],
    }
    advanced = transcribe(chunked_asr, conversation_file(CLIP), advanced="true", **fields).json()
    assert [turn["speaker"] for turn in advanced["diarization"]] == ["alice", "bob"]
    assert advanced["speakers"] == ["alice", "bob"]


def test_a_speaker_no_reference_sounds_like_keeps_a_label_across_chunks(chunked_asr: Server) -> None:
    """Loud, quiet, loud over two chunks; only the loud voice is known."""
    fields = {"known_speaker_names[]": "alice", "known_speaker_references[]": reference(LOUD)}
    path = conversation_file(DIALOGUE, pause=DIALOGUE_PAUSE)
    body = transcribe(chunked_asr, path, advanced="true", **fields).json()
    assert [turn["speaker"] for turn in body["diarization"]] == ["alice", "SPEAKER_01", "alice"]
    assert body["speakers"] == ["SPEAKER_01", "alice"]
    assert {segment["speaker"] for segment in body["segments"]} <= {"alice", "SPEAKER_01"}


@pytest.mark.parametrize(
    ("clip", "fragment"),
    [
        (lambda: speech_file(SENTENCES[0][:12], "wav").read_bytes(), "shorter than 2 s"),
        (lambda: speech_file(SENTENCES, "wav").read_bytes(), "longer than 10 s"),
        (lambda: b"RIFF not really a wave file", "not decodable"),
        (lambda: silence_file(3.0, "wav").read_bytes(), "no speech"),
    ],
    ids=["short", "long", "undecodable", "silent"],
)
def test_bad_references_are_400(chunked_asr: Server, clip, fragment: str) -> None:  # type: ignore[no-untyped-def]
    fields = {
        "response_format": "diarized_json",
        "known_speaker_names[]": ["alice", "bob"],
        "known_speaker_references[]": [reference(LOUD), data_url(clip())],
    }
    response = transcribe(chunked_asr, conversation_file(CLIP), **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "known_speaker_references[]"
    assert "reference 1" in error["message"] and fragment in error["message"], error["message"]
