"""Two server processes on one PostgreSQL database and one Redis (DB 10) share each owner's
quotas: 50 simultaneous requests split between them against a limit of 10 runs per minute →
exactly 10 pass; runs running on one count against the concurrent runs of the other. Each case
has its own API key whose limits are an override in the shared database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.server import (
    ServerPair,
    run_manage,
    server_pair,
)

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

REDIS_DB_QUOTAS_MULTIPROCESS = 10
WORD_DELAY = 0.01  # the long story streams for ~6 s on either server
STORY = "Tell me a long story about the lighthouse keeper and the seven gulls."
REQUESTS = 50
LIMIT = 10


Servers = ServerPair


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    slow = {"OFFLINE_MODEL_DELAY": str(WORD_DELAY)}
    directory = tmp_path_factory.mktemp("quota-multiprocess")
    with server_pair(directory, REDIS_DB_QUOTAS_MULTIPROCESS, a=slow, b=slow) as pair:
        yield pair


def key_with_override(database_url: str, **limits: int) -> str:
    """A new API key with these limits in the admin's overrides; its secret."""
    values = ", ".join(f"{name}={value}" for name, value in limits.items())
    code = (
        "from agentsite.web.apikeys import generate_api_key\n"
        "from agentsite.models import QuotaOverride\n"
        "key, secret = generate_api_key('quota test')\n"
        f"QuotaOverride.objects.create(owner_key=key.owner_key, {values})\n"
        "print(secret)\n"
    )
    completed = run_manage(database_url, "shell", "-c", code)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip().splitlines()[-1]


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def wait_for_a_fresh_minute_if_late() -> None:
    """Start well inside a minute: the per-minute window is the UTC minute, and 50 requests
    straddling its end would be counted in two windows."""
    into = time.time() % 60
    if into > 40:
        time.sleep(61 - into)


def test_fifty_requests_across_two_processes_against_ten_per_minute(servers: Servers):
    secret = key_with_override(servers.database_url, runs_per_minute=LIMIT)
    clients = [
        httpx.Client(base_url=server.url, timeout=60, headers=auth(secret))
        for server in (servers.a, servers.b)
    ]

    def run(n: int) -> httpx.Response:
        return clients[n % 2].post("/chat/run", json={"input": f"hello {n}"})

    wait_for_a_fresh_minute_if_late()
    with ThreadPoolExecutor(REQUESTS) as pool:
        responses = list(pool.map(run, range(REQUESTS)))
    for client in clients:
        client.close()
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == REQUESTS - LIMIT
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["code"] == "quota_exceeded" and int(refused.headers["Retry-After"]) > 0
    # Both processes served some of the admitted runs or refused some: one shared count.
    served = {n % 2 for n, status in enumerate(statuses) if status == 200}
    refused_by = {n % 2 for n, status in enumerate(statuses) if status == 429}
    assert served | refused_by == {0, 1}
    with servers.b.client() as http:
        usage = http.get("/me/usage", headers=auth(secret)).json()
    assert usage["limits"]["runs_per_minute"]["used"] == LIMIT


def test_runs_on_one_process_count_against_the_other(servers: Servers):
    secret = key_with_override(servers.database_url, concurrent_runs=1)
    with (
        httpx.Client(base_url=servers.a.url, timeout=60, headers=auth(secret)) as on_a,
        httpx.Client(base_url=servers.b.url, timeout=60, headers=auth(secret)) as on_b,
        on_a.stream("POST", "/chat/stream", json={"input": STORY}) as story,
    ):
        assert story.status_code == 200
        assert story.headers["X-RateLimit-Remaining"] == "concurrent-runs=0"
        lines = story.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))  # it runs
        refused = on_b.post("/chat/run", json={"input": "me too"})
        assert refused.status_code == 429
        assert "too many runs running at once (limit 1)" in refused.json()["error"]
        last = [line for line in lines if line.startswith("data: ")][-1]
        assert '"type":"stream_complete"' in last
    # A's slot is released as its run ends; B sees it through Redis (bounded wait).
    with httpx.Client(base_url=servers.b.url, timeout=60, headers=auth(secret)) as on_b:
        for _ in range(100):
            if on_b.get("/me/usage").json()["limits"]["concurrent_runs"]["used"] == 0:
                break
            time.sleep(0.05)
        assert on_b.post("/chat/run", json={"input": "now"}).status_code == 200
