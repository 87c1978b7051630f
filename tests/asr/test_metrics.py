"""The ASR service's GET /metrics after real tiny.en work: a request waiting for the slot shows in
the queue depth, a transcription adds its compute time and its audio seconds, the request is
counted by route. The session's ASR server, its model kept loaded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fixtures.servers import Server
from fixtures.speech import SENTENCE, SENTENCES, speech_file
from fixtures.waiting import wait_until
from tests.asr.conftest import transcribe
from tests.metrics import Exposition, added, scrape

ASR = {"service": "asr"}


def test_a_transcription_adds_its_audio_seconds_and_compute_time(asr: Server) -> None:
    before = scrape(asr.url)
    response = transcribe(asr, speech_file(SENTENCE, "wav"), response_format="verbose_json")
    assert response.status_code == 200, response.text
    task = {**ASR, "task": "transcribe"}

    def compute_time_observed() -> Exposition | None:
        # The slot is given back once the answer has gone out: its compute time is observed then.
        seen = scrape(asr.url)
        return seen if added(before, seen, "speech_inference_seconds_count", **task) == 1 else None

    after = wait_until(compute_time_observed, what="the transcription's compute time")
    assert 0 < added(before, after, "speech_inference_seconds_sum", **task) < 60
    transcribed = added(before, after, "speech_audio_seconds_total", **ASR, direction="transcribed")
    assert abs(transcribed - response.json()["duration"]) < 1e-3
    ok = {**ASR, "route": "/v1/audio/transcriptions", "method": "POST", "status": "200"}
    assert added(before, after, "speech_requests_total", **ok) == 1
    assert "whisper" in after.labels("speech_model_loads_total", "model")
    assert after.value("speech_queue_depth", **ASR) == 0
    assert after.value("speech_inference_in_flight", **ASR) == 0


def test_a_request_waiting_for_the_slot_is_in_the_queue_depth(asr: Server) -> None:
    long = speech_file(SENTENCES, "wav")  # a few seconds of work for tiny.en
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(transcribe, asr, long)
        wait_until(lambda: scrape(asr.url).value("speech_inference_in_flight", **ASR) == 1, 60, "the slot taken")
        second = pool.submit(transcribe, asr, speech_file(SENTENCE, "wav"))
        wait_until(lambda: scrape(asr.url).value("speech_queue_depth", **ASR) == 1, 60, "the second one queued")
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert wait_until(lambda: scrape(asr.url).value("speech_inference_in_flight", **ASR) == 0, what="the slot free")
    assert scrape(asr.url).value("speech_queue_depth", **ASR) == 0
