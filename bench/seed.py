"""Stored conversations for the "how cost grows" benchmark: ``python -m bench.seed``.

``--database-url URL --conversation ID=N [--conversation ID=N …]`` stores N items
(bench.session_store's alternating user and assistant messages) in each named conversation of
the ``chat`` agent, anonymous owner (the benchmark's client sends no credentials), through
``DjangoSession`` — as a server would have stored them. Its own process: Django is set up once
per interpreter, its database taken from ``DATABASE_URL`` at import.
"""

from __future__ import annotations

import argparse
import asyncio
import os


async def seed(conversations: dict[str, int]) -> None:
    import django

    django.setup()
    from agentsite.conversations.session import DjangoSession
    from bench.session_store import fill

    for session_id, items in conversations.items():
        await fill(DjangoSession(session_id, agent="chat"), items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="store conversations of N items")
    parser.add_argument("--database-url", required=True, help="an already migrated database")
    parser.add_argument("--conversation", action="append", required=True, help="ID=ITEMS")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentsite.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    conversations = {}
    for each in args.conversation:
        session_id, _, items = each.rpartition("=")
        conversations[session_id] = int(items)
    asyncio.run(seed(conversations))


if __name__ == "__main__":
    main()
