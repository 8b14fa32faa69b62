"""ASGI entry point: HTTP through Django, WebSockets through Channels' URL router.

Every server loads the site through this module, so this is where it refuses to serve with the
public development ``SECRET_KEY`` unless ``DEBUG`` is on: anyone could forge that key's session
cookies (an admin login), password-reset links and signed values.

Request bodies are limited before Django reads them (``agentsite.web.body_limit``); every
WebSocket gets flow control and frame limits (``agentsite.web.ws_flow``).
"""

import os

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentsite.settings")

# Django must be set up before anything imports models (consumers, routing), as
# django.core.asgi.get_asgi_application does.
django.setup(set_prefix=False)

from agentsite.web.handler import SiteASGIHandler  # noqa: E402

# Django's handler, with its middleware run inline (agentsite.web.handler).
django_asgi_app = SiteASGIHandler()


def refuse_development_secret_key() -> None:
    if settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY and not settings.DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is the public development key and DEBUG is off: refusing to serve. "
            "Set SECRET_KEY to a long random value (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or DEBUG=true on a development machine "
            "(`make run` does)."
        )


def refuse_invalid_settings() -> None:
    """The start-up checks of the project's settings (agentsite.checks), which
    ``manage.py`` runs but a server loading this module directly would skip."""
    from agentsite.checks import agentsite_setting_errors

    errors = agentsite_setting_errors()
    if errors:
        raise ImproperlyConfigured("; ".join(f"{error.id}: {error.msg}" for error in errors))


refuse_development_secret_key()
refuse_invalid_settings()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agentsite.web.body_limit import BodySizeLimit  # noqa: E402
from agentsite.web.origins import AllowedHostsMiddleware  # noqa: E402
from agentsite.web.routing import websocket_urlpatterns  # noqa: E402
from agentsite.web.ws_flow import WebSocketFlowControl  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        # The Origin is checked per caller, once the owner is known (agentsite.web.origins).
        "websocket": WebSocketFlowControl(
            AllowedHostsMiddleware(
                # types-channels want their own pattern type, which no re_path returns.
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))  # type: ignore[arg-type]
            )
        ),
    }
)
