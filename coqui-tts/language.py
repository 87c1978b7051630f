"""The language to speak: validated when given, otherwise detected among the model's languages."""

from __future__ import annotations

import functools
from typing import Any

from common.errors import invalid

# Below this confidence a detection (of, say, "OK.") is a guess: use DEFAULT_LANGUAGE instead.
MIN_CONFIDENCE = 0.6


def _base(code: str) -> str:
    return code.split("-")[0].lower()  # XTTS says zh-cn; the detector says zh


@functools.cache
def _identifier(languages: tuple[str, ...] | None = None) -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # model bundled, no hub

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if languages is not None:
        identifier.set_languages(list(languages))
    return identifier


def detect(text: str, supported: list[str], default: str) -> str:
    by_base = {_base(code): code for code in supported}
    candidates = tuple(sorted(set(by_base) & set(_identifier().labels)))
    if len(candidates) < 2:
        return by_base[candidates[0]] if candidates else default
    detected, confidence = _identifier(candidates).classify(text)
    if confidence < MIN_CONFIDENCE and default in supported:
        return default
    return by_base[detected]


def choose_language(requested: str | None, text: str, supported: list[str], default: str) -> str:
    """``requested`` if the model speaks it (400 listing the supported ones otherwise); when absent
    or blank, the language detected from ``text`` among ``supported``, falling back to ``default``.
    A regional tag (``en-US``, ``pt_BR``, as BCP 47 clients send) speaks its language."""
    wanted = (requested or "").strip().lower().replace("_", "-")
    if not wanted:
        return detect(text, supported, default)
    exact = {code.lower(): code for code in supported}
    by_base = {_base(code): code for code in supported}
    chosen = exact.get(wanted) or by_base.get(_base(wanted))
    if chosen is None:
        raise invalid(
            f"Unsupported language {requested!r} for this model: use one of {', '.join(supported)} "
            "(or omit it to detect the language from the input).",
            "language",
            "unsupported_language",
        )
    return chosen
