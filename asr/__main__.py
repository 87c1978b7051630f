"""``python -m asr``: run the ASR service."""

from asr.app import create_app
from asr.settings import SERVICE, Settings
from common.service import serve


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)


if __name__ == "__main__":
    main()
