"""``python -m coqui_tts``: run the TTS service."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from common.service import serve
from coqui_tts.app import create_app
from coqui_tts.settings import SERVICE, Settings


def _settings() -> Settings:
    """Settings from the environment; a bad value stops start-up with one clear line per setting."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(part) for part in error['loc']).upper()}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        ]
        sys.exit("coqui-tts: invalid settings, not starting:\n" + "\n".join(lines))


def main() -> None:
    settings = _settings()
    serve(create_app(settings), settings, SERVICE)


if __name__ == "__main__":
    main()
