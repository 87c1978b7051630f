"""TTS benchmark: ``python -m benchmarks.tts`` (see __main__.py)."""
