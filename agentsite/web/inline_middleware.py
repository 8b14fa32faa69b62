"""Django's session, common, auth and messages middleware, run in the event loop instead of a
worker thread.

Django's own middleware classes are sync: under ASGI, ``MiddlewareMixin.__acall__`` runs each
``process_request`` and ``process_response`` through ``sync_to_async`` — about a dozen thread
hops per request for the stack in settings.MIDDLEWARE, each costing a context switch on the
request's thread, for hooks that only read headers and set attributes. These subclasses call
the hooks directly when they cannot block: none of them touches the database or a file unless
a session or messages must be saved, and then (only then) they hop to a thread as before.

``process_view`` hooks (CSRF, auth) are not affected: Django's handler calls them itself.
Security, CSRF and X-Frame-Options middleware are left as Django's own classes: the deploy
checks (`manage.py check --deploy`) recognise them only by their dotted paths, and a subclass
would switch those checks off.
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
from django.middleware.common import CommonMiddleware
from django.utils.functional import SimpleLazyObject, empty


class InlineHooks:
    """``__acall__`` that calls the sync hooks directly; for hooks that never block.

    ``response_needs_thread`` lets a subclass send ``process_response`` to a thread when, for
    this request, it would do I/O.
    """

    # MiddlewareMixin's: a coroutine function here, since __acall__ runs in async mode only.
    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase | None = None
        process_request: Callable[[HttpRequest], HttpResponseBase | None] | None = getattr(
            self, "process_request", None
        )
        if process_request is not None:
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

    def response_needs_thread(self, request: HttpRequest) -> bool:
        return False


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
