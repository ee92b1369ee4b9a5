"""peepsweb settings: everything comes from the environment, with safe local defaults.

SQLite and the in-memory channel layer by default; DATABASE_URL switches to
PostgreSQL (psycopg 3) and REDIS_URL to channels-redis.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default="0"):
    return os.environ.get(name, default).lower() in ("1", "true", "yes", "on")


def envint(name, default):
    return int(os.environ.get(name, default))


def envseconds(name, default):
    """A duration: "90" or "90s", "15m", "24h" -> seconds."""
    raw = os.environ.get(name, default).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    scale = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        return float(number) * scale
    except ValueError:
        raise ValueError(f"{name}: expected seconds or a duration like 15m, got {raw!r}") from None


def database_from_url(url):
    """postgres://user:pass@host:port/name -> a Django DATABASES entry."""
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": parts.port or "",
        # Under ASGI every request runs in a thread of its own, so a
        # persistent connection (CONN_MAX_AGE > 0) is never reused: each
        # request left one open until the garbage collector found it, and 20
        # pushers reached PostgreSQL's 200 within a minute (bench/pushers.py).
        # So a connection per request (CONN_MAX_AGE=0): as many as requests
        # in flight, 22 for 20 pushers, as fast as a pool in bench/pushers.py.
        # psycopg's pool (DB_POOL_MAX_SIZE > 0) caps them per process, but
        # every thread that uses the database must give its connection back:
        # the agents' websocket consumers do not yet, and with a pool of 8 a
        # server ran out after a few agent sockets. docs/ingest.md has the
        # figures. Health checks: a connection that died with a database
        # restart is noticed (an empty query) before use.
        "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": _pool_options(
            envint("DB_POOL_MAX_SIZE", 0), float(os.environ.get("DB_POOL_TIMEOUT_S", "10"))
        ),
    }


def _pool_options(max_size, timeout):
    """DB_POOL_MAX_SIZE=0: no pool, a connection per request (DB_CONN_MAX_AGE=0)."""
    if not max_size:
        return {}
    # A request waits up to `timeout` for a connection, then gets a 503 (so
    # does every request while the database is down). While connecting
    # fails, the pool retries with growing delays; it starts over after 5 s
    # (reconnect_timeout), so it finds a restarted database within seconds.
    return {
        "pool": {"min_size": 2, "max_size": max_size, "timeout": timeout, "reconnect_timeout": 5}
    }


DEBUG = envbool("DEBUG")
# PEEPSWEB_PRODUCTION=1: served to others, behind TLS. It never falls back
# to the public local key, whatever DEBUG says.
PRODUCTION = envbool("PEEPSWEB_PRODUCTION")
LOCAL_KEY = "peepsweb-local-insecure-key"  # public: it is in this file
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if PRODUCTION and SECRET_KEY in ("", LOCAL_KEY):
    raise RuntimeError("SECRET_KEY must be set when PEEPSWEB_PRODUCTION=1")
# Local use only: nothing is signed that outlives the process that matters.
SECRET_KEY = SECRET_KEY or LOCAL_KEY

ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# TLS, on by default in production (`manage.py check --deploy` passes) and
# each adjustable. The default proxy header is what nginx, Caddy and most
# load balancers set; the proxy must overwrite it, never pass a client's on.
# Empty to turn it off (daphne serving TLS itself).
_proxy_header = os.environ.get(
    "SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https" if PRODUCTION else ""
)
if _proxy_header:
    _name, _, _value = _proxy_header.partition(":")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
_ON_IN_PRODUCTION = "1" if PRODUCTION else "0"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", _ON_IN_PRODUCTION)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", _ON_IN_PRODUCTION)
# HSTS is only sent over https. One year, subdomains of this host included;
# preload (a request to be hard-coded into browsers) only the owner of the
# whole domain can decide, so it is off unless asked for, and its reminder
# (W021) is silenced.
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _ON_IN_PRODUCTION)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD")
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "snapshots",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Database unreachable -> 503 + Retry-After, the cause logged (peepsweb/errors.py).
    "peepsweb.errors.StorageUnavailableMiddleware",
]

ROOT_URLCONF = "peepsweb.urls"
ASGI_APPLICATION = "peepsweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
            ],
        },
    }
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL lets pages read while an ingest writes; the timeout rides out
            # the writer lock instead of failing with "database is locked".
            # IMMEDIATE takes that lock at BEGIN: ingest reads before it writes,
            # and a deferred transaction could not wait for the upgrade.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only for deployments that run collectstatic; unset, whitenoise serves
# straight from static/ (no collectstatic step in the one-command set-up).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Ingest limits from SNAPSHOT_FORMAT.md, each configurable.
PEEPSWEB_MAX_BODY_BYTES = envint("PEEPSWEB_MAX_BODY_BYTES", 64 * 1024 * 1024)
PEEPSWEB_MAX_NODES = envint("PEEPSWEB_MAX_NODES", 1_000_000)
PEEPSWEB_MAX_EDGES = envint("PEEPSWEB_MAX_EDGES", 2_000_000)
PEEPSWEB_MAX_STRING_BYTES = envint("PEEPSWEB_MAX_STRING_BYTES", 64 * 1024)
PEEPSWEB_MAX_ATTRS_BYTES = envint("PEEPSWEB_MAX_ATTRS_BYTES", 64 * 1024)
PEEPSWEB_MAX_ATTRS_DEPTH = envint("PEEPSWEB_MAX_ATTRS_DEPTH", 16)
# Django's own cap must not cut our body before we can answer 413 ourselves.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

# History (snapshots/retention.py): every capture for KEEP_FULL, then at most
# one per process per THIN_INTERVAL (captures where a node changed state
# class or a cycle appeared or resolved are kept) up to KEEP_HOURS; the
# oldest first above KEEP_MAX_MB on disk (0: no cap), and the oldest first
# above KEEP_SNAPSHOTS snapshots (0: no cap).
PEEPSWEB_KEEP_FULL = envseconds("PEEPSWEB_KEEP_FULL", "15m")
PEEPSWEB_THIN_INTERVAL = envseconds("PEEPSWEB_THIN_INTERVAL", "1m")
PEEPSWEB_KEEP_HOURS = float(os.environ.get("PEEPSWEB_KEEP_HOURS", 24))
PEEPSWEB_KEEP_MAX_MB = envint("PEEPSWEB_KEEP_MAX_MB", 0)
PEEPSWEB_KEEP_SNAPSHOTS = envint("PEEPSWEB_KEEP_SNAPSHOTS", 0)
# Ingest prunes after itself at most this often per server process.
PEEPSWEB_PRUNE_EVERY_S = envseconds("PEEPSWEB_PRUNE_EVERY_S", "5")
# Versioned storage (snapshots/versions.py): a process's next capture writes
# all its rows again once the rows added since the last full write reach
# this many times that write; and how many rows of process heads each
# server process keeps in memory (a digest and the column that finds the
# row, about 160 bytes each; a head of more than a quarter of that is not
# kept, and is read again when needed). The rewrite share trades storage for
# reads (docs/ingest.md#history-storage): PostgreSQL's rows are about twice
# SQLite's, and 6 keeps its hour of one 2,000-task process under 50 MB;
# SQLite's hour is well under at 4, with cheaper reads.
PEEPSWEB_SEGMENT_REWRITE = float(
    os.environ.get("PEEPSWEB_SEGMENT_REWRITE", 6.0 if os.environ.get("DATABASE_URL") else 4.0)
)
PEEPSWEB_HEAD_CACHE_ROWS = envint("PEEPSWEB_HEAD_CACHE_ROWS", 1_000_000)
PEEPSWEB_KEEP_INGEST_EVENTS = envint("PEEPSWEB_KEEP_INGEST_EVENTS", 10_000)
# PostgreSQL: a capture with at least this many nodes + edges is loaded into
# partitions of its own (snapshots/partitions.py).
PEEPSWEB_PARTITION_MIN_ROWS = envint("PEEPSWEB_PARTITION_MIN_ROWS", 20_000)
# Above this the graph view offers to narrow instead of drawing.
PEEPSWEB_GRAPH_MAX_NODES = envint("PEEPSWEB_GRAPH_MAX_NODES", 300)
PEEPSWEB_GRAPH_MAX_EDGES = envint("PEEPSWEB_GRAPH_MAX_EDGES", 600)
PEEPSWEB_LIVE_WINDOW_S = envint("PEEPSWEB_LIVE_WINDOW_S", 30)
PEEPSWEB_STUCK_REQUEST_S = envint("PEEPSWEB_STUCK_REQUEST_S", 5)
PEEPSWEB_PULL_TIMEOUT_MS = envint("PEEPSWEB_PULL_TIMEOUT_MS", 5000)
# 1: /mcp (snapshots/mcp/) wants an ingest token, once one exists; else it
# is open like the read API.
PEEPSWEB_MCP_TOKEN_REQUIRED = envbool("PEEPSWEB_MCP_TOKEN_REQUIRED")
# How often a server refreshes the Agent rows of the sockets it holds; rows
# not refreshed for three times this long (their server died) are ignored.
PEEPSWEB_AGENT_HEARTBEAT_S = float(os.environ.get("PEEPSWEB_AGENT_HEARTBEAT_S", "15"))
# Open pages are re-rendered at most once per this many seconds (the live
# publisher, snapshots/live/publish.py): lower = fresher pages under
# sustained ingest, higher = more CPU left to ingest.
PEEPSWEB_LIVE_INTERVAL_S = float(os.environ.get("PEEPSWEB_LIVE_INTERVAL_S", "1"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
