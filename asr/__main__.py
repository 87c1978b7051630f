"""``python -m asr``: run the ASR service."""

from asr.app import create_app
from asr.settings import Settings
from common.service import serve


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "asr")


if __name__ == "__main__":
    main()
