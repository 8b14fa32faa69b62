"""What the protocols' views share: starting a run whose events go out through a protocol's
encoder. (Who is asking is the API's auth, read with ``agentsite.web.security.request_owner``.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from django.http import HttpResponseBase

from agentsite.runs.hub import LiveRun
from agentsite.runs.service import CANCEL_WAIT_SECONDS, RunRequest, start_run
from agentsite.web.protocols.base import StreamEncoder
from agentsite.web.sse import sse_response


async def stream_run(
    request: RunRequest, encoder_for: Callable[[LiveRun], StreamEncoder]
) -> HttpResponseBase:
    """Start a run and answer its events through the protocol's encoder. A client that goes
    away stops the run when its policy says so (as ``POST /{agent}/stream`` does), and waits
    until the run has let go of the conversation, so the client's next turn is not refused."""
    live = await start_run(request)

    async def stop_run() -> None:
        live.cancel("immediate", "disconnect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.done.wait(), CANCEL_WAIT_SECONDS)

    on_close = stop_run if request.on_disconnect == "cancel" else None
    encoder = encoder_for(live)
    response = sse_response(live.follow(), live.run_id, on_close=on_close, encoder=encoder)
    for name, value in live.headers.items():  # the quota headers
        response[name] = value
    return response
