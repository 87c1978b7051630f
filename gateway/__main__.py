"""``python -m gateway``: serve the public gateway (host, port and workers from settings)."""

from common.service import serve
from gateway.app import create_app
from gateway.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(
        create_app(settings),
        settings,
        "gateway",
        factory="gateway.app:create_worker_app",
        workers=settings.workers,
        header_timeout_seconds=settings.request_header_timeout_seconds,
    )
