"""Django's own middleware, run in the event loop instead of a worker thread.

Django's middleware classes are sync: under ASGI, ``MiddlewareMixin.__acall__`` runs each
``process_request`` and ``process_response`` through ``sync_to_async`` (and the handler does the
same with each ``process_view``) — a dozen thread hops per request for Django's stack, plus a new
thread for the request's first one, for hooks that only read headers and set attributes. The
subclasses here call the hooks directly when they cannot block, and hop to a thread as before
(only then) when they must read or write the database: a modified session, stored messages,
CSRF_USE_SESSIONS, a CSRF check that has to parse a form body.

settings.MIDDLEWARE names Django's own classes — what ``check --deploy`` and the admin's checks
look for, by dotted path — and the site's ASGI handler (``agentsite.web.handler``) loads each in
its inline form from ``INLINE_FORMS``: one list of middleware, and the same behaviour either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.functional import SimpleLazyObject, empty


class InlineHooks:
    """``__acall__`` that calls the sync hooks directly; for hooks that never block.

    ``request_needs_thread`` and ``response_needs_thread`` let a subclass send a hook to a
    thread when, for this request, it would do I/O.
    """

    # MiddlewareMixin's: a coroutine function here, since __acall__ runs in async mode only.
    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase | None = None
        process_request: Callable[[HttpRequest], HttpResponseBase | None] | None = getattr(
            self, "process_request", None
        )
        if process_request is not None:
            if self.request_needs_thread(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)
        process_response: Callable[[HttpRequest, HttpResponseBase], HttpResponseBase] | None = (
            getattr(self, "process_response", None)
        )
        if process_response is None:
            return response
        if self.response_needs_thread(request):
            return await sync_to_async(process_response, thread_sensitive=True)(request, response)
        return process_response(request, response)

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest) -> bool:
        return False


class InlineSecurityMiddleware(InlineHooks, SecurityMiddleware):
    """Security headers and the HTTPS redirect: no I/O."""


class InlineXFrameOptionsMiddleware(InlineHooks, XFrameOptionsMiddleware):
    pass


# RFC 9110's safe methods: CsrfViewMiddleware accepts them without reading the body.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class InlineCsrfViewMiddleware(InlineHooks, CsrfViewMiddleware):
    """The CSRF cookie is read and set inline; with CSRF_USE_SESSIONS it lives in the session
    (a database read and write), and then the hooks go to a thread.

    The view check is inline for exempt views (the JSON API) and safe methods; a POST to a
    form view (the admin) may parse the body to find the form's token, which can spool an
    upload to disk: that check goes to a thread.
    """

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    def response_needs_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    # Async so that Django's handler awaits it instead of sending it to a thread.
    async def process_view(  # type: ignore[override]
        self,
        request: HttpRequest,
        callback: Callable[..., Any],
        callback_args: tuple[Any, ...],
        callback_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        check = super().process_view
        if getattr(callback, "csrf_exempt", False) or request.method in SAFE_METHODS:
            return check(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(check, thread_sensitive=True)(
            request, callback, callback_args, callback_kwargs
        )


class InlineCommonMiddleware(InlineHooks, CommonMiddleware):
    pass


class InlineAuthenticationMiddleware(InlineHooks, AuthenticationMiddleware):
    """``request.user`` stays lazy: the session and user are loaded where they are used."""


class InlineSessionMiddleware(InlineHooks, SessionMiddleware):
    """Saving a modified session is a database write: that response goes to a thread."""

    def response_needs_thread(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class InlineMessageMiddleware(InlineHooks, MessageMiddleware):
    """Messages storage made lazily: building it signs nothing yet but costs a cookie signer
    (settings lookups, a backend import) on every request, and API requests never use it.
    Storing messages may write to the session: only then does the response hop."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    # django-stubs narrow MessageMiddleware.process_response to HttpResponse; Django stores the
    # messages (a cookie, or the session) on any response, streaming ones included.
    def process_response(  # type: ignore[override]
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if _messages_storage(request) is None:
            return response  # never read nor added to: nothing to store
        return super().process_response(request, response)  # type: ignore[arg-type]

    def response_needs_thread(self, request: HttpRequest) -> bool:
        storage = _messages_storage(request)
        return storage is not None and (storage.used or storage.added_new)


def _messages_storage(request: HttpRequest) -> Any:
    """The request's messages storage if something has used it, else None."""
    storage = getattr(request, "_messages", None)
    # django-stubs 5.2 leave out LazyObject._wrapped, which Django sets on every lazy object.
    if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:  # type: ignore[attr-defined]
        return None
    return storage


# Django's middleware (as settings.MIDDLEWARE names it) → its inline form.
INLINE_FORMS: dict[str, type[InlineHooks]] = {
    "django.middleware.security.SecurityMiddleware": InlineSecurityMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware": InlineSessionMiddleware,
    "django.middleware.common.CommonMiddleware": InlineCommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": InlineCsrfViewMiddleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": InlineAuthenticationMiddleware,
    "django.contrib.messages.middleware.MessageMiddleware": InlineMessageMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": InlineXFrameOptionsMiddleware,
}


def inline_stack(paths: list[str]) -> list[str]:
    """``paths`` (settings.MIDDLEWARE) with Django's classes replaced by their inline forms."""
    return [
        f"{__name__}.{INLINE_FORMS[path].__name__}" if path in INLINE_FORMS else path
        for path in paths
    ]
