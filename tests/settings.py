"""The test suite's settings: the site's own, with a key of its own.

The ASGI application refuses to load with the public development key while DEBUG is off, and
tests run with DEBUG off (as production does) and import it; the server processes of the slow
tests get a key of their own the same way (tests/support/server.py).
"""

from agentsite.settings import *  # noqa: F403

SECRET_KEY = "agentsite-test-suite-only-" + "s" * 40
