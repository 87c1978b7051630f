"""Chunking internals: windows decoded from real files, cuts in silence, speaker label matching."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from asr import audio, chunking
from asr.chunking import SpeakerLabels, Turn
from common.errors import APIError
from fixtures.speech import SENTENCES, decode, encode, speech_file


def test_short_audio_is_one_window_identical_to_decoding_whole() -> None:
    path = speech_file(SENTENCES[:2], "mp3")
    windows = list(audio.windows(path, chunk_seconds=600, overlap_seconds=3, threshold_seconds=600))
    assert len(windows) == 1 and windows[0].last and windows[0].offset == 0
    np.testing.assert_array_equal(windows[0].samples, decode(path))


def test_long_audio_windows_overlap_and_cover_the_file() -> None:
    path = speech_file(SENTENCES, "ogg")  # ~13.7 s
    whole = decode(path)
    windows = list(audio.windows(path, chunk_seconds=4, overlap_seconds=1, threshold_seconds=4))
    assert [w.last for w in windows] == [False] * (len(windows) - 1) + [True]
    for window in windows:
        assert len(window.samples) <= 4 * audio.SAMPLE_RATE
        np.testing.assert_array_equal(window.samples, whole[window.offset : window.offset + len(window.samples)])
    assert [w.offset for w in windows] == [i * 3 * audio.SAMPLE_RATE for i in range(len(windows))]
    assert windows[-1].offset + len(windows[-1].samples) == len(whole)


def test_cut_is_placed_in_the_quietest_part_of_the_overlap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rate = audio.SAMPLE_RATE
    samples = np.full(10 * rate, 0.3, dtype=np.float32)
    samples[int(8.5 * rate) : int(8.7 * rate)] = 0.0  # a pause inside the last 3 s
    path = encode(samples, rate, tmp_path / "tone.wav", "wav")
    first = next(audio.windows(path, chunk_seconds=9, overlap_seconds=3, threshold_seconds=9))
    cut = chunking.cut_after(first, 3) / rate
    assert 8.5 <= cut <= 8.7


def test_empty_and_undecodable_files_are_400(tmp_path) -> None:  # type: ignore[no-untyped-def]
    silent = tmp_path / "none.wav"  # a valid WAV header with zero frames
    with wave.open(str(silent), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    with pytest.raises(APIError) as empty:
        list(audio.windows(silent, chunk_seconds=600, overlap_seconds=3, threshold_seconds=600))
    assert empty.value.status == 400 and "no audio samples" in empty.value.message
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00not audio at all" * 100)
    with pytest.raises(APIError) as bad:
        list(audio.windows(junk, chunk_seconds=600, overlap_seconds=3, threshold_seconds=600))
    assert bad.value.status == 400 and bad.value.param == "file"


def test_speaker_labels_follow_overlap_then_voice() -> None:
    labels = SpeakerLabels()
    first = labels.relabel(
        [Turn("SPEAKER_00", 0, 4), Turn("SPEAKER_01", 5, 9)], 0, 0, {"SPEAKER_00": [1, 0], "SPEAKER_01": [0, 1]}
    )
    assert first == {"SPEAKER_00": "SPEAKER_00", "SPEAKER_01": "SPEAKER_01"}
    # Next window (overlap 7-10 s): its SPEAKER_00 talks over the previous SPEAKER_01 there.
    second = labels.relabel(
        [Turn("SPEAKER_00", 7, 9), Turn("SPEAKER_01", 11, 13)], 7, 10, {"SPEAKER_00": [0, 1], "SPEAKER_01": [1, 0.1]}
    )
    assert second == {"SPEAKER_00": "SPEAKER_01", "SPEAKER_01": "SPEAKER_00"}
    # A voice never heard before gets a fresh label, not one already in use.
    third = labels.relabel([Turn("SPEAKER_00", 14, 16)], 14, 17, {"SPEAKER_00": [-1, 0]})
    assert third == {"SPEAKER_00": "SPEAKER_02"}


def test_shift_moves_segments_and_words() -> None:
    segments = [{"start": 1.0, "end": 2.0, "text": "hi", "words": [{"word": "hi", "start": 1.1, "end": 1.9}]}]
    shifted = chunking.shift(segments, 600.0)
    assert shifted[0]["start"] == 601.0 and shifted[0]["words"][0]["end"] == 601.9
