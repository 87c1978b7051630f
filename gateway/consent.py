"""The consent check: a consent recording must say the consent statement of its language.

The recording is transcribed by the stack's own ASR service (the gateway never decodes audio) and
compared with the statement word by word; more than a quarter of the statement's words wrong
(substituted, missing or added) and the consent is refused, quoting the statement to read. The
transcript is never logged.
"""

from __future__ import annotations

import json
import re

import jiwer
from fastapi import Request

from common.errors import APIError, invalid
from common.languages import WHISPER_LANGUAGES
from gateway.backends import Backend, multipart

# Primary language subtag (an ISO 639-1 code the ASR service knows) -> the statement to read.
STATEMENTS: dict[str, str] = {
    "en": "I am the owner of this voice and I consent to its use for creating a synthetic voice.",
}
MAX_WORD_ERROR_RATE = 0.25
FIELD = "recording"
_WORD = re.compile(r"\w+(?:'\w+)*")


def statement_for(language: str) -> tuple[str, str]:
    """(ASR language code, statement) for a BCP 47 tag; 400 naming the supported languages."""
    primary = language.split("-", 1)[0].lower()
    if primary not in STATEMENTS:
        supported = ", ".join(f"{code} ({WHISPER_LANGUAGES[code].title()})" for code in STATEMENTS)
        raise invalid(
            f"There is no consent statement for language {language!r} yet. Record the consent in a language that has "
            f"one: {supported}, with any region (e.g. 'en-US').",
            "language",
            "unsupported_language",
        )
    return primary, STATEMENTS[primary]


def words(text: str) -> str:
    """Lower-case words without punctuation (apostrophes inside a word kept), space-separated."""
    return " ".join(_WORD.findall(text.lower()))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of ``reference``: jiwer's WER on the words."""
    heard = words(hypothesis)
    if not heard:  # jiwer measures nothing against an empty hypothesis: every word was missed
        return 1.0
    return float(jiwer.wer(words(reference), heard))


def check_statement(statement: str, heard: str) -> None:
    """400 ``param: recording`` quoting the statement when ``heard`` does not say it."""
    if word_error_rate(statement, heard) <= MAX_WORD_ERROR_RATE:
        return
    shown = heard.strip()
    shown = f'"{shown[:200]}{"…" if len(shown) > 200 else ""}"' if shown else "no speech"
    raise invalid(
        f"The consent recording does not say the consent statement (it was heard as {shown}). Record the voice's "
        f'owner reading exactly: "{statement}"',
        FIELD,
        "consent_statement_mismatch",
    )


async def transcribe(asr: Backend, request: Request, recording: bytes, filename: str | None, language: str) -> str:
    """What the ASR service hears in the recording. Its refusals reach the client as they are, a
    recording it cannot decode as a 400 naming ``recording``."""
    fields = {"model": "whisper-1", "language": language, "response_format": "json"}  # the public form's fields
    headers, body = multipart(fields, "file", filename or "recording", recording)
    upstream = await asr.fetch(request, "POST", "/v1/audio/transcriptions", headers=headers, body=body)
    if upstream.status_code >= 400:
        error = asr.error(upstream)
        if error.status == 400 and error.param == "file":
            raise APIError(
                400, f"The consent recording could not be transcribed: {error.message}", param=FIELD, code=error.code
            )
        raise error
    try:
        return str(json.loads(upstream.content)["text"])
    except (ValueError, KeyError, TypeError) as exc:
        raise APIError(
            502, "The ASR backend answered the consent transcription without text.", code="backend_error"
        ) from exc
