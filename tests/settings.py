"""The test suite's settings: the site's own, with a key of its own and the test client's host.

The ASGI application refuses to load with the public development key while DEBUG is off, and
tests run with DEBUG off (as production does) and import it; the server processes of the slow
tests get a key of their own the same way (tests/support/server.py). Django's test runner adds
"testserver" to ALLOWED_HOSTS only once tests run; some modules use the application while they
are collected (the schema fuzz loads /openapi.json), so it is listed here too.
"""

from agentsite.settings import *  # noqa: F403
from agentsite.settings import ALLOWED_HOSTS

SECRET_KEY = "agentsite-test-suite-only-" + "s" * 40
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
