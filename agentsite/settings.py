"""Settings, read from the environment with django-environ (see the README's table).

Every variable is optional: with none set the site runs on SQLite, the in-memory channel
layer and the offline model. Nothing else in the code reads ``os.environ``.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Literal

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The key of a fresh clone. It is public, so the ASGI application (every server: daphne,
# uvicorn, runserver) refuses to load with it while DEBUG is off; `make run` turns DEBUG on.
# Management commands and the test suite still work with it.
DEVELOPMENT_SECRET_KEY = "django-insecure-agentsite-development-key-change-me-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
# Django's test runner adds "testserver" (its client's host) itself; it is no default here.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
PORT = env.int("PORT", default=8000)
# `manage.py serve` (the production server): where it listens, how many processes, and how many
# pending connections the kernel queues for it (a burst of new streams beyond it is dropped).
HOST = env.str("HOST", default="127.0.0.1")
WORKERS = env.int("WORKERS", default=1)
LISTEN_BACKLOG = env.int("LISTEN_BACKLOG", default=4096)
# Addresses of the proxies whose X-Forwarded-For/-Proto `manage.py serve` believes ("*": any).
FORWARDED_ALLOW_IPS = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "axes",
    "agentsite",
    "chat",
    "research",
]

# Django's own middleware, named as `check --deploy` and the admin's checks look for it; the
# site's ASGI handler runs each in its inline form, with no thread hop per hook
# (agentsite/web/inline_middleware.py, agentsite/web/handler.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Async-native static files (a sync middleware here would push every request, SSE
    # streams included, through a worker thread and buffer streaming responses).
    "servestatic.middleware.ServeStaticMiddleware",
    "agentsite.web.cors.CorsMiddleware",
    "agentsite.web.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "agentsite.web.middleware.JsonErrorMiddleware",
    # Turns django-axes' lockout into its 429 page (async-capable; last, as axes asks).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "agentsite.urls"
ASGI_APPLICATION = "agentsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so a read-then-write transaction
    # (add_items) never fails half way with "database is locked"; WAL lets readers go on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The test database is a file too: concurrent connections then wait for the write lock as
    # in production, where a shared in-memory database fails at once with "table is locked".
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"agentsite-test-{os.getpid()}.sqlite3")
    }
# Threads that run the runs' database work (agentsite.conversations.dbthread). SQLite: always 1
# (one writer at a time anyway, and one connection never waits on another's file lock).
# PostgreSQL: 4 by default, each with its own connection (×2 streams/s over 1, README
# "Benchmarks"); after a database outage every thread checks its connection before its next call.
DATABASE_THREADS = (
    1
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    else env.int("DATABASE_THREADS", default=4)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Login throttling (django-axes): a username from one IP address is locked out after
# LOGIN_FAILURE_LIMIT wrong passwords, for LOGIN_COOLOFF_MINUTES, on the admin and the site's login
# alike; the right password does not get through a lockout. Locking by username *and* address
# keeps a guesser from locking a user out from everywhere. `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# --- Email. Unset: nothing is mailed (console backend) and the password-reset pages do not
# exist, since the reset link could not be delivered (agentsite.web.pages.when_email_configured).
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(environ.Env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# ServeStatic serves static files in every mode. With DEBUG off, names are hashed and files
# pre-compressed once `collectstatic` has run; before that (tests, `make run`) the storage falls
# back to plain names and ServeStatic serves them straight from the apps' static/ folders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "agentsite.staticfiles.CollectedStaticFilesStorage"
    },
}
SERVESTATIC_USE_FINDERS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "index"
LOGOUT_REDIRECT_URL = "index"

# --- Security defaults that only bite when DEBUG is off (see README "Production").
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG and SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Model providers (DESIGN.md §2–§3).
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
OPENAI_API = env.str("OPENAI_API", default="responses")
MODEL_PROVIDER: str = env.str("MODEL_PROVIDER", default="openai" if OPENAI_API_KEY else "offline")
AGENT_MODEL: str = env.str("AGENT_MODEL", default="gpt-5-mini")
# Per-agent model overrides, e.g. AGENT_MODEL_OVERRIDES="assistant=gpt-5,chat=gpt-5-mini".
AGENT_MODEL_OVERRIDES: dict[str, str] = env.dict("AGENT_MODEL_OVERRIDES", default={})
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
# What makes the model requests' connections: aiohttp (faster) or httpx (agentsite.providers.
# openai_client).
OPENAI_HTTP_CLIENT = env.str("OPENAI_HTTP_CLIENT", default="aiohttp")
# Seconds the offline model waits between streamed words, so a demo looks like a real model.
OFFLINE_MODEL_DELAY = env.float("OFFLINE_MODEL_DELAY", default=0.02)
# Export the SDK's traces to OpenAI? Unset: only when the runs themselves go to OpenAI's own
# endpoint with a key; never for a local or third-party OPENAI_BASE_URL unless set to true.
AGENT_TRACING = env.bool("AGENT_TRACING", default=None)
# /health checks the provider (GET {base_url}/models, never a billed call) at most once per
# PROVIDER_CHECK_TTL seconds, giving up after PROVIDER_CHECK_TIMEOUT seconds.
PROVIDER_CHECK_TTL = env.float("PROVIDER_CHECK_TTL", default=30.0)
PROVIDER_CHECK_TIMEOUT = env.float("PROVIDER_CHECK_TIMEOUT", default=3.0)

# --- Conversations.
ENABLE_SESSIONS = env.bool("ENABLE_SESSIONS", default=True)
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=1_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
MAX_TURNS = env.int("MAX_TURNS", default=10)
# A run holds its conversation with a lease that it renews while it runs; a process that dies
# mid-run (kill -9) leaves a lease that simply expires after this many seconds.
RUN_LEASE_SECONDS = env.int("RUN_LEASE_SECONDS", default=120)
# How long a tool call declared with needs_approval waits for a decision before it is rejected
# as expired (agentsite.runs.approvals).
APPROVAL_TIMEOUT_SECONDS = env.int("APPROVAL_TIMEOUT_SECONDS", default=3600)

# What one conversation may hold: a run on a conversation at either limit is refused (409,
# code conversation_full) before it starts; a run admitted under them may end slightly over.
MAX_CONVERSATION_ITEMS = env.int("MAX_CONVERSATION_ITEMS", default=10_000)
MAX_CONVERSATION_BYTES = env.int("MAX_CONVERSATION_BYTES", default=16 * 1024 * 1024)
# --- Quotas and cost (agentsite.governance.quotas, DESIGN.md §10). Each is a per-owner default
# (API key, user, browser, the anonymous namespace); unset = no limit. Staff override them per
# owner in the admin (Quota overrides). QUOTA_CONVERSATION_BYTES is an owner's budget *under*
# the server's cap MAX_CONVERSATION_BYTES: a conversation takes no run past the smaller of both.
QUOTA_RUNS_PER_MINUTE = env.int("QUOTA_RUNS_PER_MINUTE", default=None)
QUOTA_CONCURRENT_RUNS = env.int("QUOTA_CONCURRENT_RUNS", default=None)
QUOTA_TOKENS_PER_DAY = env.int("QUOTA_TOKENS_PER_DAY", default=None)
QUOTA_RESEARCH_PER_DAY = env.int("QUOTA_RESEARCH_PER_DAY", default=None)
QUOTA_CONVERSATION_BYTES = env.int("QUOTA_CONVERSATION_BYTES", default=None)
# USD per 1M tokens: input, cached input, output (OpenAI's list prices; an estimate). The
# MODEL_PRICES environment variable, JSON of the same shape, adds models or replaces entries:
# MODEL_PRICES='{"my-model": {"input": 1, "cached_input": 0.1, "output": 4}}'.
DEFAULT_MODEL_PRICES: dict[str, dict[str, float]] = {
    "gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10.0},
    "gpt-5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2.0},
    "gpt-5-nano": {"input": 0.05, "cached_input": 0.005, "output": 0.4},
    "gpt-4.1": {"input": 2.0, "cached_input": 0.5, "output": 8.0},
    "gpt-4.1-mini": {"input": 0.4, "cached_input": 0.1, "output": 1.6},
    "gpt-4.1-nano": {"input": 0.1, "cached_input": 0.025, "output": 0.4},
    "gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10.0},
    "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
    "o4-mini": {"input": 1.1, "cached_input": 0.275, "output": 4.4},
    "offline": {"input": 0.0, "cached_input": 0.0, "output": 0.0},
}
MODEL_PRICES: dict[str, dict[str, float]] = {
    **DEFAULT_MODEL_PRICES,
    **env.json("MODEL_PRICES", default={}),
}
# What one GET /{agent}/session/{id} returns at most: items (the default and the cap of
# ?limit=) and bytes of stored JSON; older items are read page by page with ?before=.
SESSION_PAGE_MAX_ITEMS = env.int("SESSION_PAGE_MAX_ITEMS", default=1000)
SESSION_PAGE_MAX_BYTES = env.int("SESSION_PAGE_MAX_BYTES", default=1024 * 1024)

# --- Real-time runs (detached, resumable, cancellable; DESIGN.md §6–§7).
# What a run does when its SSE client goes away: "cancel" it, or "continue" (resume later).
SSE_ON_DISCONNECT: Literal["cancel", "continue"] = env.str("SSE_ON_DISCONNECT", default="cancel")
WS_ON_DISCONNECT: Literal["cancel", "continue"] = env.str("WS_ON_DISCONNECT", default="continue")
# WebSocket flow control (agentsite.web.ws_flow): bytes of frames a socket may have waiting for a
# client that reads too slowly (then close 4408); the largest frame a client may send (else
# close 4413); frames a client may send per second, with bursts (else close 4429).
WS_MAX_PENDING_BYTES = env.int("WS_MAX_PENDING_BYTES", default=1_000_000)
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=MAX_REQUEST_BYTES)
WS_FRAMES_PER_SECOND = env.float("WS_FRAMES_PER_SECOND", default=10.0)
WS_FRAME_BURST = env.int("WS_FRAME_BURST", default=40)
# A second run on a busy conversation: "reject" (409) or "enqueue" (wait its turn).
MULTITASK: Literal["reject", "enqueue"] = env.str("MULTITASK", default="reject")
MULTITASK_WAIT_SECONDS = env.float("MULTITASK_WAIT_SECONDS", default=120.0)
SSE_HEARTBEAT_SECONDS = env.float("SSE_HEARTBEAT_SECONDS", default=15.0)
SSE_RETRY_MS = env.int("SSE_RETRY_MS", default=3000)
# How long a finished run's events stay resumable: Redis streams expire, database batches are
# deleted (as runs end, at most once a minute per process, or by `manage.py expire_run_events`).
RUN_EVENTS_TTL_SECONDS = env.int("RUN_EVENTS_TTL_SECONDS", default=86_400)

# --- Tools: every CPU-bound tool runs in a worker process with these limits
# (agentsite.tool_workers.pool). Past the time limit the worker is killed and the model is told so.
TOOL_TIMEOUT_SECONDS = env.float("TOOL_TIMEOUT_SECONDS", default=5.0)
TOOL_MEMORY_BYTES = env.int("TOOL_MEMORY_BYTES", default=256 * 1024 * 1024)
# Warm worker processes kept, and tool computations that may run at once (per server process).
TOOL_WORKERS = env.int("TOOL_WORKERS", default=2)

# --- Ownership and API keys.
# true → the JSON/SSE/WebSocket API needs an API key (or a logged-in user); false → keyless
# clients share one anonymous namespace, as the FastAPI app did.
REQUIRE_API_KEY = env.bool("REQUIRE_API_KEY", default=False)
# Origins allowed to call the API from a browser on another origin (CORS); never "*".
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
# The one policy django-cors-headers applies to API paths (agentsite.web.cors). Last-Event-ID: a
# fetch-based SSE client resuming a run sends it itself; X-Run-Id is what a cross-origin page
# needs to resume or cancel a run; browsers cap the preflight age anyway (Chromium: 2 h).
CORS_ALLOW_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = ["authorization", "content-type", "last-event-id"]
# The quota headers (agentsite.governance.quota_headers) too: a page shows what is left.
CORS_EXPOSE_HEADERS = [
    "X-Run-Id",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Research (planner → searches → writer; research/).
# How many searches of one research run may be in flight at once.
RESEARCH_CONCURRENCY = env.int("RESEARCH_CONCURRENCY", default=4)
# "auto": OpenAI's hosted web search when the provider is OpenAI's Responses API, otherwise the
# local knowledge base; "knowledge_base" or "web" to force one.
RESEARCH_SEARCH_BACKEND = env.str("RESEARCH_SEARCH_BACKEND", default="auto")
RESEARCH_MAX_QUERY_CHARS = env.int("RESEARCH_MAX_QUERY_CHARS", default=1000)
# Ranked knowledge-base passages handed to the search agent for each search.
RESEARCH_SNIPPETS_PER_SEARCH = env.int("RESEARCH_SNIPPETS_PER_SEARCH", default=5)
# A search that takes longer is recorded as failed; the others go on.
RESEARCH_SEARCH_TIMEOUT = env.float("RESEARCH_SEARCH_TIMEOUT", default=120.0)
# Seconds the offline model's research pauses at each step (plan, each search, the report), so
# its progress can be watched; the real model takes its own time, so it applies offline only.
RESEARCH_OFFLINE_STEP_DELAY = env.float("RESEARCH_OFFLINE_STEP_DELAY", default=1.0)

# --- Operations: retention, history size, log format (issue 6; see README "Production").
# Conversations not updated for this many days are deleted by `manage.py purge_sessions`
# (unset: keep forever). The command never deletes a conversation with a live run.
SESSION_RETENTION_DAYS = env.int("SESSION_RETENTION_DAYS", default=None)
# Items of history a run sends to the model, per agent, e.g. "chat=50,assistant=100"; the full
# history stays stored and GET /{agent}/session/{id} still returns all of it.
SESSION_HISTORY_LIMITS = {
    agent: int(limit) for agent, limit in env.dict("SESSION_HISTORY_LIMITS", default={}).items()
}
# "plain" for people, "json" (one object per line) for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()
# HSTS scope. Both only matter once SECURE_HSTS_SECONDS > 0; preload is hard to undo, so opt in.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Checks a deployment has knowingly accepted, e.g. "security.W008" when the proxy redirects to
# HTTPS instead of Django (SECURE_SSL_REDIRECT=false).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
# --- End of operations block.

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "agentsite.logs.RedactingFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "agentsite.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai.agents": {"level": "WARNING"},
        # Lockouts and repeated failures are warnings; its per-attempt chatter is not needed.
        "axes": {"level": "WARNING"},
    },
}
