"""``manage.py serve``: the production server — uvicorn with uvloop and httptools.

Chosen by measurement (README "Benchmarks", "Production"): of daphne, uvicorn (uvloop +
httptools) and granian, it streams the most per process here, and it is the one under which
every test of the suite passes — it hands request bodies to the application as they arrive (the
early 413) and applies WebSocket backpressure to the application (the slow-reader 4408 close),
which daphne, buffering both itself, cannot. ``make run`` (``runserver``, daphne, autoreload) stays
the development server.

No autoreload; a listen backlog (LISTEN_BACKLOG) so a burst of new streams is queued by the
kernel rather than dropped; uvicorn's lifespan protocol off (Channels' router has none);
Django's logging configuration kept (uvicorn's access and error loggers go through it, at
LOG_LEVEL); proxy headers (``X-Forwarded-For``/``-Proto``) trusted from FORWARDED_ALLOW_IPS.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

APPLICATION = "agentsite.asgi:application"


class Command(BaseCommand):
    help = (
        "Run the production server (uvicorn, uvloop + httptools, no autoreload) on HOST:PORT "
        "with WORKERS processes."
    )
    requires_system_checks: list[str] = []  # the application's import runs the start-up checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="address to listen on (HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (PORT)")
        parser.add_argument("--workers", type=int, default=None, help="processes (WORKERS)")
        parser.add_argument(
            "--backlog", type=int, default=None, help="listen queue length (LISTEN_BACKLOG)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        workers = _option(options["workers"], settings.WORKERS)
        backlog = _option(options["backlog"], settings.LISTEN_BACKLOG)
        if workers < 1:
            raise CommandError(f"--workers/WORKERS must be at least 1, not {workers}")
        if backlog < 1:
            raise CommandError(f"--backlog/LISTEN_BACKLOG must be at least 1, not {backlog}")
        uvicorn.run(
            APPLICATION,
            host=_option(options["host"], settings.HOST),
            port=_option(options["port"], settings.PORT),
            workers=workers,
            backlog=backlog,
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            lifespan="off",
            reload=False,
            log_config=None,
            log_level=settings.LOG_LEVEL.lower(),
            proxy_headers=True,
            forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
        )


def _option(value: Any, default: Any) -> Any:
    return default if value is None else value
