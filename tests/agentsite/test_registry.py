"""Agents are declared once, in ``AppConfig.ready()``, and both transports mount them from the
registry: nothing has to import a URLconf or a router module to make an agent exist."""

from __future__ import annotations

import importlib.abc
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import AsyncClient

from agentsite.asgi import application
from agentsite.registry import all_endpoints, all_specs

ROOT = Path(__file__).resolve().parents[2]
BROWSER_HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
# The URLconf and the modules that mount routers: none of them may be what fills the registry.
ROUTE_MODULES = ("agentsite.urls", "agentsite.web.api", "research.urls")

SETUP_PROBE = """
import json, os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from agentsite.registry import all_endpoints, all_specs
print(json.dumps({
    "agents": [spec.slug for spec in all_specs()],
    "endpoints": [endpoint.prefix for endpoint in all_endpoints()],
    "routing_modules": sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("agentsite", "chat", "research")
        and (name.endswith((".urls", ".routing")) or name == "agentsite.web.api")
    ),
}))
"""


def test_registry_is_full_after_setup_without_importing_any_urls_module():
    result = subprocess.run(
        [sys.executable, "-c", SETUP_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probe = json.loads(result.stdout)
    assert probe["agents"] == ["chat", "assistant"]
    assert probe["endpoints"] == ["research"]
    assert probe["routing_modules"] == []


class RefuseImport(importlib.abc.MetaPathFinder):
    """Makes importing any of ``names`` fail, as if the module did not exist."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname in self.names:
            raise ImportError(f"{fullname} must not be imported here")


@pytest.mark.django_db(transaction=True)
def test_ask_works_without_importing_the_urlconf(monkeypatch):
    for name in ROUTE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [RefuseImport(ROUTE_MODULES), *sys.meta_path])
    out = io.StringIO()

    call_command("ask", "assistant", "please calculate 6*7", stdout=out)

    assert "[tool output] 42" in out.getvalue()
    assert not [name for name in ROUTE_MODULES if name in sys.modules]


@pytest.mark.django_db(transaction=True)
async def test_every_registered_agent_has_its_http_and_websocket_routes():
    client = AsyncClient()
    paths = (await client.get("/openapi.json")).json()["paths"]
    for spec in all_specs():
        info = await client.get(f"/{spec.slug}/info")
        assert info.status_code == 200 and info.json()["slug"] == spec.slug
        assert {f"/{spec.slug}/run", f"/{spec.slug}/stream"} <= set(paths)
        assert await answers_ping(f"/ws/{spec.slug}/")
    for endpoint in all_endpoints():
        assert any(path.startswith(f"/{endpoint.prefix}") for path in paths)
        assert await answers_ping(f"/ws/{endpoint.prefix}/")


async def answers_ping(path: str) -> bool:
    communicator = WebsocketCommunicator(application, path, headers=BROWSER_HEADERS)
    connected, _ = await communicator.connect(timeout=5)
    if not connected:
        return False
    await communicator.send_json_to({"type": "ping"})
    reply = await communicator.receive_json_from(5)
    await communicator.disconnect()
    return reply == {"type": "pong"}
