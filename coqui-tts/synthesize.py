"""From a validated speech request to encoded audio bytes, sentence by sentence.

``plan()`` settles everything that can fail with a clear error (voice, language, speaker
reference) before any audio is sent; ``render()`` then yields encoded bytes as the engine
produces PCM, checking the request's cancel token between chunks so a client that went away
stops synthesis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from common.api_types import SpeechRequest
from common.lifecycle import CancelToken
from common.metrics import AUDIO_SECONDS
from coqui_tts.encode import AudioEncoder
from coqui_tts.engines.base import CustomVoice, Engine, Speaker
from coqui_tts.language import choose_language
from coqui_tts.sentences import split_sentences
from coqui_tts.settings import SERVICE
from coqui_tts.voices import map_voices

log = logging.getLogger(__name__)
SYNTHESIZED = AUDIO_SECONDS.labels(SERVICE, "synthesized")


@dataclass(frozen=True)
class Plan:
    sentences: list[str]
    speaker: Speaker
    language: str
    speed: float
    response_format: str
    stream: bool


def plan(
    engine: Engine,
    request: SpeechRequest,
    voice_map: dict[str, str],
    default_language: str,
    custom: CustomVoice | None = None,
) -> Plan:
    """Resolve voice and language (400 on an unsupported language) and get the speaker ready.
    ``custom``: the custom voice the request names, already looked up."""
    speaker: Speaker
    if custom is not None:
        speaker, label, why = custom, custom.label, "custom voice"
    else:
        assert isinstance(request.voice, str)
        speaker, why = map_voices(engine.speakers, voice_map).resolve(request.voice)
        label = speaker or "the default speaker reference"
    language = choose_language(request.language, request.input, engine.languages, default_language)
    engine.prepare(speaker)
    sentences = split_sentences(request.input, engine.max_chars(language))
    log.info(
        "speaking %d sentence(s) as %s (%s), language %s%s, speed %g",
        len(sentences), label, why, language, "" if request.language else " (detected)", request.speed,
    )  # fmt: skip
    streaming = request.stream or request.stream_format == "sse"  # events are sent as the audio is made
    return Plan(sentences, speaker, language, request.speed, request.response_format, streaming)


def render(engine: Engine, plan: Plan, token: CancelToken) -> Iterator[bytes]:
    """Encoded audio for ``plan``: pieces as soon as they are ready when streaming, else one body."""
    encoder = AudioEncoder(plan.response_format, engine.sample_rate, streaming=plan.stream)
    done = 0
    try:
        for sentence in plan.sentences:
            pcm_chunks = engine.synthesize(
                sentence, speaker=plan.speaker, language=plan.language, speed=plan.speed, streaming=plan.stream
            )
            for pcm in pcm_chunks:
                token.check()
                SYNTHESIZED.inc(len(pcm) / engine.sample_rate)
                data = encoder.feed(pcm)
                if data:
                    yield data
            done += 1
            token.check()
        yield encoder.close()
    finally:
        if done < len(plan.sentences):
            log.info("synthesis stopped after %d of %d sentence(s)", done, len(plan.sentences))
