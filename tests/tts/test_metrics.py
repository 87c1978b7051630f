"""The TTS service's GET /metrics after real synthesis (the session's Piper server, kept warm): the
seconds of audio it made, the request's compute time, the model kind it loaded."""

from __future__ import annotations

from fixtures.servers import Server
from fixtures.waiting import wait_until
from tests.metrics import Exposition, added, scrape
from tests.tts.helpers import PCM_RATE, speak

TTS = {"service": "coqui-tts"}


def test_a_synthesis_adds_its_audio_seconds_and_compute_time(piper_server: Server) -> None:
    before = scrape(piper_server.url)
    response = speak(piper_server, input="Metrics count every second of speech.", response_format="pcm")
    assert response.status_code == 200, response.text
    seconds = len(response.content) / 2 / PCM_RATE  # 16-bit mono
    task = {**TTS, "task": "speak"}

    def compute_time_observed() -> Exposition | None:
        # The slot is given back once the answer has gone out: its compute time is observed then.
        seen = scrape(piper_server.url)
        return seen if added(before, seen, "speech_inference_seconds_count", **task) == 1 else None

    after = wait_until(compute_time_observed, what="the synthesis' compute time")
    synthesized = added(before, after, "speech_audio_seconds_total", **TTS, direction="synthesized")
    assert seconds > 1 and abs(synthesized - seconds) < 0.05, (synthesized, seconds)
    assert added(before, after, "speech_audio_seconds_total", **TTS, direction="transcribed") == 0
    assert added(before, after, "speech_inference_seconds_sum", **task) > 0
    ok = {**TTS, "route": "/v1/audio/speech", "method": "POST", "status": "200"}
    assert added(before, after, "speech_requests_total", **ok) == 1
    assert after.labels("speech_model_loads_total", "model") == {"piper"}  # the kind, never the voice's path
