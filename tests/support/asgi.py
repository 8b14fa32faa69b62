"""Drive the ASGI application directly, as a server would, for tests that need a client to go
away mid-stream (Django's test clients cannot disconnect)."""

from __future__ import annotations

from typing import Any


def post_json_scope(path: str, body: bytes) -> dict[str, Any]:
    """The HTTP scope of a JSON POST to ``path`` carrying ``body``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
