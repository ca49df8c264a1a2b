"""Darkroom settings: one module, driven by the environment (see .env.example).

Every default is the embedded, no-server setup used by the demo and the tests:
SQLite, files under var/media, kombu's filesystem broker, the upstream simulator.
"""

from importlib.util import find_spec
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from common.addresses import PRIVATE_NETWORKS, check_networks
from common.ops.logs import logging_config
from common.secrets import secret_key_weakness

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key"  # noqa: S105 - DEBUG only
elif not DEBUG and (reason := secret_key_weakness(SECRET_KEY)):
    # It signs sessions, reset links and image URLs: a guessable one forges them all.
    raise ImproperlyConfigured(
        f"SECRET_KEY is {reason}. Generate one: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
# Old keys still accepted for signatures while SECRET_KEY is rotated (README: rotating secrets).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    # Single sign-on: allauth's OpenID Connect provider only (its own account views are
    # not mounted; sign-in stays on Django's views, see accounts/sso/).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    # Password-guessing lockouts (per account and per address), staff lift them in the admin.
    "accounts.third_party_apps.AxesConfig",
    # Optional TOTP two-factor for local accounts (required of staff with DARKROOM_STAFF_MFA).
    "django_otp",
    "accounts.third_party_apps.TotpConfig",
    "accounts",
    "boards",
    "generations",
    "presets",
    "providers",
    "config.ops",
    "csp",
    # The upstream simulator: no models, only its `manage.py simulator` command.
    "simulator",
]

MIDDLEWARE = [
    # First: /healthz, /readyz, /metrics answered before the Host check; request id + timing.
    "config.ops.middleware.OpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise, async-capable: a sync-only middleware would put every async view in a thread.
    "common.static_middleware.AsyncCapableWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # who acts and from which address, for the audit log (accounts.audit)
    "accounts.audit_context.audit_context_middleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.mfa.StaffMfaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "common.not_found.portal_not_found",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks; async-capable like every middleware here.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
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
                "django.template.context_processors.i18n",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# A connection that broke (the database restarted, refused us for a while) is noticed
# and replaced before the next request or task uses it, instead of failing that one.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # web, worker and beat share one SQLite file in the demo. WAL lets readers run beside
    # the writer; IMMEDIATE takes the write lock when a transaction begins, so a writer
    # waits its turn (busy timeout) instead of failing "database is locked" when its
    # read lock cannot be upgraded.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("DARKROOM_SQLITE_BUSY_TIMEOUT", default=30),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.int(
    "DARKROOM_DB_POOL_SIZE", default=20
):
    # A connection pool per process (psycopg_pool). The async API closes its connection
    # after each short call, so a waiting request holds none; with a pool that close is
    # a hand-back, not 7 ms of connect + auth next time. CONN_MAX_AGE cannot do it under
    # ASGI, where every portal request runs in a fresh thread (and Django refuses both).
    # A worker thread gives its connection back while it waits on an upstream
    # (common/db.py), so a worker needs far fewer connections than threads. With the
    # pool, CONN_HEALTH_CHECKS (above) checks connections as they are handed out.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DARKROOM_DB_POOL_SIZE", default=20),
        "timeout": 30,
    }
    # The same backend, its pool skipping the check of a connection checked in the
    # last second (common/db_pool.py); Django's checks every checkout.
    DATABASES["default"]["ENGINE"] = "common.postgresql"
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DARKROOM_DB_CONN_MAX_AGE", default=0)
# Lets several checkouts (or helpers) run the suite against one PostgreSQL at once.
if env("DARKROOM_TEST_DB_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env("DARKROOM_TEST_DB_NAME")}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# Who may create their own account: "closed" (admins create accounts), "open",
# "domains" (e-mail in DARKROOM_SIGNUP_DOMAINS) or "invite" (a staff-made invite link).
DARKROOM_SIGNUP = env("DARKROOM_SIGNUP", default="closed")
if DARKROOM_SIGNUP not in {"closed", "open", "domains", "invite"}:
    raise ImproperlyConfigured("DARKROOM_SIGNUP must be closed, open, domains or invite.")
DARKROOM_SIGNUP_DOMAINS = [d.lower() for d in env.list("DARKROOM_SIGNUP_DOMAINS", default=[])]
DARKROOM_INVITE_MAX_AGE = env.int("DARKROOM_INVITE_MAX_AGE", default=7 * 24 * 3600)
# A self-signup works only once its address is confirmed by the link mailed to it.
DARKROOM_SIGNUP_CONFIRM_MAX_AGE = env.int("DARKROOM_SIGNUP_CONFIRM_MAX_AGE", default=48 * 3600)

# --- Identity: single sign-on, password sign-in, lockouts -------------------------
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out account or address before any password is checked.
    "accounts.auth_backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Logs in people arriving through single sign-on (and restores their sessions).
    "allauth.account.auth_backends.AuthenticationBackend",
]
# OpenID Connect: any provider with discovery at <issuer>/.well-known/openid-configuration.
DARKROOM_OIDC_ISSUER = env("DARKROOM_OIDC_ISSUER", default="")
DARKROOM_OIDC_NAME = env("DARKROOM_OIDC_NAME", default="single sign-on")
DARKROOM_OIDC_GROUPS_CLAIM = env("DARKROOM_OIDC_GROUPS_CLAIM", default="groups")
DARKROOM_OIDC_ALLOWED_DOMAINS = [
    d.lower() for d in env.list("DARKROOM_OIDC_ALLOWED_DOMAINS", default=[])
]
SOCIALACCOUNT_PROVIDERS: dict[str, object] = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "SCOPE": env.list("DARKROOM_OIDC_SCOPES", default=["openid", "email", "profile"]),
        "APPS": [
            {
                "provider_id": "sso",
                "name": DARKROOM_OIDC_NAME,
                "client_id": env("DARKROOM_OIDC_CLIENT_ID", default=""),
                "secret": env("DARKROOM_OIDC_CLIENT_SECRET", default=""),
                "settings": {"server_url": DARKROOM_OIDC_ISSUER},
            }
        ]
        if DARKROOM_OIDC_ISSUER
        else [],
    }
}
SOCIALACCOUNT_ADAPTER = "accounts.sso.adapter.SsoAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # the button POSTs, with the CSRF token
SOCIALACCOUNT_STORE_TOKENS = False
# A person who already has an account with the same, provider-verified e-mail is
# linked to it, not duplicated; never a staff, superuser or break-glass account, nor an
# unconfirmed self-signup (accounts.sso.adapter).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_METHODS = {"username"}
# false: only single sign-on, except for the break-glass staff account named here.
DARKROOM_PASSWORD_LOGIN = env.bool("DARKROOM_PASSWORD_LOGIN", default=True)
DARKROOM_BREAK_GLASS_USERNAME = env("DARKROOM_BREAK_GLASS_USERNAME", default="")
# true: staff must use a TOTP app, however they sign in, unless the identity provider's
# ID token says it checked a second factor (amr / acr values below; "*": trust any SSO).
DARKROOM_STAFF_MFA = env.bool("DARKROOM_STAFF_MFA", default=False)
DARKROOM_OIDC_MFA_AMR = env.list("DARKROOM_OIDC_MFA_AMR", default=["mfa"])
DARKROOM_OIDC_MFA_ACR = env.list("DARKROOM_OIDC_MFA_ACR", default=[])
OTP_TOTP_ISSUER = env("DARKROOM_MFA_ISSUER", default="Darkroom")
# After this many failed sign-ins for one account, or from one address, further tries
# are refused for the cool-off period (django-axes; staff lift lockouts in the admin).
AXES_ENABLED = env.bool("DARKROOM_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("DARKROOM_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("DARKROOM_LOGIN_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# Its start-up banner ("AXES: BEGIN ...") printed on every manage.py call.
AXES_VERBOSE = False
# Every failure is kept (AccessFailureLog) for the audit, even after a lockout is lifted.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses
# or CIDRs, comma-separated; default: none). config/asgi.py applies them (uvicorn's own
# proxy-headers middleware, with this list) before Django sees the request, so REMOTE_ADDR
# and the scheme are the client's everywhere: lockouts, the audit log, HTTPS redirects.
DARKROOM_TRUSTED_PROXIES = env.list("DARKROOM_TRUSTED_PROXIES", default=[])
if env("DARKROOM_PROXY_COUNT", default=""):
    raise ImproperlyConfigured(
        "DARKROOM_PROXY_COUNT is gone: name your proxies' addresses in DARKROOM_TRUSTED_PROXIES."
    )
# A header a client wrote is never an address: REMOTE_ADDR only (set as said above).
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Password-reset and signup-confirmation mail: printed by the console backend unless
# EMAIL_HOST names an SMTP server (EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
# EMAIL_USE_TLS); EMAIL_BACKEND overrides both.
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if env("EMAIL_HOST", default="")
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="darkroom@localhost")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))

STORAGE_BACKEND = env("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "s3":
    if find_spec("boto3") is None:
        # The `s3` extra: command 1 installs it only when .env says s3 at install time.
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 needs boto3, which is not installed. Install the locked S3 "
            "extra: .venv/bin/pip install --require-hashes -r requirements-s3.lock "
            "(or pip install 'darkroom[s3]'), or run ./scripts/dev again with "
            "STORAGE_BACKEND=s3 in .env."
        )
    _default_storage = {
        "BACKEND": "common.storage.PublicEndpointS3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            # Where browsers reach the store, when not the address above (compose: MinIO).
            "public_endpoint_url": env("AWS_S3_PUBLIC_ENDPOINT_URL", default=""),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "default_acl": "private",
            "querystring_auth": True,  # short-lived signed URLs, never public objects
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
            "file_overwrite": False,
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured("STORAGE_BACKEND must be 'local' or 's3'.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 60 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
# Redis redelivers an unacked task after this; every retry countdown stays below it.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The folder broker has no host; naming one keeps kombu from warning "No hostname was
    # supplied" on every publish.
    if CELERY_BROKER_URL.rstrip("/") == "filesystem:":
        CELERY_BROKER_URL = "filesystem://localhost/"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's exchange table; by default ./control/ in whatever directory we started in.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, keeping one Redis client per channel (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
# The worker keeps reconnecting to a broker that went away, at start and later, for ever.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Publishing while the broker is down fails within seconds (the relay publishes later)
# instead of holding the caller.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=4.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_IGNORE_RESULT = True  # state lives in the database, not a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="darkroom")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How often beat's relay publishes again jobs whose lease ended (never picked up, message
# lost, worker dead), and how long a lease lasts without its worker's heartbeat.
DARKROOM_RELAY_INTERVAL = env.float("DARKROOM_RELAY_INTERVAL", default=15.0)
DARKROOM_LEASE_SECONDS = env.int("DARKROOM_LEASE_SECONDS", default=60)
if DARKROOM_LEASE_SECONDS * 2 > CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed 2 x DARKROOM_LEASE_SECONDS.")
# Where a worker keeps the bytes of a paid result while the object store does not answer
# (generations.spool); a job resumed on this host stores them instead of paying again.
DARKROOM_SPOOL_DIR = Path(env("DARKROOM_SPOOL_DIR", default=str(VAR_DIR / "spool")))
# DARKROOM_BEAT_LOCK=true (Redis broker): RedBeat keeps the schedule in Redis and holds a
# lock there, so a second beat (another machine, a rolling restart) waits instead of ticking
# too. Opt-in: RedBeat's beat exits when Redis goes away (run it under a restart policy, as
# compose does); without it a second beat only doubles ticks the relay makes harmless.
DARKROOM_BEAT_LOCK = env.bool("DARKROOM_BEAT_LOCK", default=False)
if DARKROOM_BEAT_LOCK and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
    CELERY_REDBEAT_REDIS_URL = env("CELERY_REDBEAT_REDIS_URL", default="") or CELERY_BROKER_URL
    CELERY_REDBEAT_KEY_PREFIX = env("CELERY_REDBEAT_KEY_PREFIX", default="") or "darkroom:redbeat:"
    # A waiting beat retries the lock every loop interval; a beat that dies without
    # releasing it is replaced once it times out (it is extended on every tick).
    CELERY_BEAT_MAX_LOOP_INTERVAL = 15
    CELERY_REDBEAT_LOCK_TIMEOUT = env.int("CELERY_REDBEAT_LOCK_TIMEOUT", default=75)
CELERY_BEAT_SCHEDULE = {
    "relay-generations": {
        "task": "generations.tasks.relay_generations",
        "schedule": DARKROOM_RELAY_INTERVAL,
        # A tick that waited in a queue longer than the next one is useless.
        "options": {"expires": DARKROOM_RELAY_INTERVAL},
    },
    "sweep-stuck-generations": {
        "task": "generations.tasks.sweep_stuck_generations",
        "schedule": 60.0,
    },
    # Webhook notices whose message was lost while the broker was down.
    "requeue-unsent-webhooks": {
        "task": "generations.api.tasks.requeue_unsent_webhooks",
        "schedule": 300.0,
    },
    # Budget alerts whose mail or webhook failed (generations.spend.alerts): tried again.
    "retry-budget-alerts": {
        "task": "generations.tasks.retry_budget_alerts",
        "schedule": 60.0,
    },
    # Daily/weekly/monthly quota resets; idempotent, so a run late or twice is harmless.
    "reset-quota-periods": {
        "task": "accounts.tasks.reset_quota_periods",
        "schedule": 300.0,
    },
    # Retention (DARKROOM_RETENTION_DAYS, group overrides); a no-op when nothing expires.
    "purge-expired-generations": {
        "task": "generations.tasks.purge_expired_generations",
        "schedule": 24 * 3600.0,
    },
}

# --- Cache -------------------------------------------------------------------
# The API's per-key rate-limit counters live here, so every web process must share
# it: Redis when REDIS_URL is set or the broker is Redis, else this process's memory.
REDIS_URL = env("REDIS_URL", default="")
_cache_redis = REDIS_URL or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _cache_redis,
        "KEY_PREFIX": "darkroom",  # the broker's Redis database is shared with Celery
    }
    if _cache_redis
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

# --- Darkroom -----------------------------------------------------------------
# When set, every upstream channel talks to the simulator at this address.
DARKROOM_SIMULATOR_URL = env("DARKROOM_SIMULATOR_URL", default="")
DARKROOM_SIMULATOR_KEY = env("DARKROOM_SIMULATOR_KEY", default="sim-key")
# Hosts that reference-image fetches may reach even though they resolve to
# loopback/private addresses. Empty by default; tests name their local server.
DARKROOM_FETCH_ALLOW_HOSTS = env.list("DARKROOM_FETCH_ALLOW_HOSTS", default=[])
DARKROOM_FETCH_TIMEOUT = env.float("DARKROOM_FETCH_TIMEOUT", default=15.0)
DARKROOM_FETCH_MAX_REDIRECTS = env.int("DARKROOM_FETCH_MAX_REDIRECTS", default=3)
DARKROOM_MAX_IMAGE_BYTES = env.int("DARKROOM_MAX_IMAGE_BYTES", default=20 * 1024 * 1024)
# Well under Pillow's decompression-bomb limit (~89.5 Mpx).
DARKROOM_MAX_IMAGE_PIXELS = env.int("DARKROOM_MAX_IMAGE_PIXELS", default=40_000_000)
DARKROOM_MAX_REFERENCE_IMAGES = env.int("DARKROOM_MAX_REFERENCE_IMAGES", default=8)
DARKROOM_RESULT_MAX_BYTES = env.int("DARKROOM_RESULT_MAX_BYTES", default=50 * 1024 * 1024)
DARKROOM_UPSTREAM_TIMEOUT = env.float("DARKROOM_UPSTREAM_TIMEOUT", default=180.0)
DARKROOM_TASK_MAX_RETRIES = env.int("DARKROOM_TASK_MAX_RETRIES", default=4)
# A job not finished this long after it was queued is failed and refunded by the sweeper.
DARKROOM_JOB_DEADLINE = env.int("DARKROOM_JOB_DEADLINE", default=30 * 60)
# A channel failing this many times in a row cools off (is skipped) for this many seconds.
DARKROOM_CHANNEL_FAILURE_THRESHOLD = env.int("DARKROOM_CHANNEL_FAILURE_THRESHOLD", default=5)
DARKROOM_CHANNEL_COOLDOWN = env.int("DARKROOM_CHANNEL_COOLDOWN", default=300)
# ...but only once failures came from this many different people within the window
# (seconds), so one person's troublesome requests cannot take a channel off for everyone.
DARKROOM_CHANNEL_FAILURE_PEOPLE = env.int("DARKROOM_CHANNEL_FAILURE_PEOPLE", default=2)
DARKROOM_CHANNEL_FAILURE_WINDOW = env.int("DARKROOM_CHANNEL_FAILURE_WINDOW", default=600)
# Upstream calls one job may make in all, across channels and retries (each costs money).
DARKROOM_MAX_UPSTREAM_ATTEMPTS = env.int("DARKROOM_MAX_UPSTREAM_ATTEMPTS", default=4)
# Fernet key(s) for channel API keys at rest, comma-separated, newest first; empty:
# derived from SECRET_KEY (then changing SECRET_KEY means re-entering channel keys).
DARKROOM_FIELD_ENCRYPTION_KEY = env("DARKROOM_FIELD_ENCRYPTION_KEY", default="")
DARKROOM_THUMBNAIL_SIZE = env.int("DARKROOM_THUMBNAIL_SIZE", default=384)

# --- Spend and content policy (issue 22) -------------------------------------------
# The one currency prices, costs and budgets are in (ISO 4217 code).
DARKROOM_CURRENCY = env("DARKROOM_CURRENCY", default="USD").upper()
# Budget alerts (50/80/100 %): a signed POST here (Standard Webhooks, secret from
# DARKROOM_ALERT_WEBHOOK_SECRET or derived from SECRET_KEY); empty: no webhook.
DARKROOM_ALERT_WEBHOOK_URL = env("DARKROOM_ALERT_WEBHOOK_URL", default="")
DARKROOM_ALERT_WEBHOOK_SECRET = env("DARKROOM_ALERT_WEBHOOK_SECRET", default="")
# An OpenAI-compatible moderation API called before the upstream (empty: none).
DARKROOM_MODERATION_URL = env("DARKROOM_MODERATION_URL", default="")
DARKROOM_MODERATION_API_KEY = env("DARKROOM_MODERATION_API_KEY", default="")
DARKROOM_MODERATION_MODEL = env("DARKROOM_MODERATION_MODEL", default="omni-moderation-latest")
# When the moderation API does not answer: refuse (false, the default) or let through.
DARKROOM_MODERATION_FAIL_OPEN = env.bool("DARKROOM_MODERATION_FAIL_OPEN", default=False)
DARKROOM_MODERATION_TIMEOUT = env.float("DARKROOM_MODERATION_TIMEOUT", default=10.0)

# --- Governance: content credentials, retention, storage --------------------------
# C2PA signing chain and key: PEM text or a path to a PEM file. Unset: a local chain is
# made once in DARKROOM_C2PA_DIR (valid signatures, but no public trust anchor).
DARKROOM_C2PA_CERT = env("DARKROOM_C2PA_CERT", default="")
DARKROOM_C2PA_KEY = env("DARKROOM_C2PA_KEY", default="")
DARKROOM_C2PA_DIR = Path(env("DARKROOM_C2PA_DIR", default="") or VAR_DIR / "c2pa")
DARKROOM_C2PA_LOCAL_NAME = env("DARKROOM_C2PA_LOCAL_NAME", default="Darkroom")
# Days images are kept after their generation (0: forever); groups may override in the admin.
DARKROOM_RETENTION_DAYS = env.int("DARKROOM_RETENTION_DAYS", default=0)
# Storage per person in MB (originals + thumbnails + references; 0: no cap); group override.
DARKROOM_STORAGE_CAP_MB = env.int("DARKROOM_STORAGE_CAP_MB", default=0)
# "request": "delete my data" asks staff; "self": it erases at once.
DARKROOM_SELF_ERASURE = env("DARKROOM_SELF_ERASURE", default="request")
if DARKROOM_SELF_ERASURE not in {"request", "self"}:
    raise ImproperlyConfigured("DARKROOM_SELF_ERASURE must be request or self.")

REST_FRAMEWORK: dict[str, object] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Darkroom API",
    "DESCRIPTION": (
        "OpenAI-compatible image generation. Authenticate with `Authorization: Bearer <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- The portal's live stream (/live/, server-sent events) -------------------------
# Redis channel the worker publishes the person whose job changed on (Redis broker only).
DARKROOM_LIVE_CHANNEL = env("DARKROOM_LIVE_CHANNEL", default="darkroom:portal")
# Without Redis (or while its subscription is down) the web re-reads open streams' jobs
# this often; with Redis, every DARKROOM_LIVE_RECHECK seconds for a message pub/sub lost.
DARKROOM_LIVE_POLL_INTERVAL = env.float("DARKROOM_LIVE_POLL_INTERVAL", default=1.0)
DARKROOM_LIVE_RECHECK = env.float("DARKROOM_LIVE_RECHECK", default=10.0)
# A comment line this often keeps proxies and browsers from closing an idle stream.
DARKROOM_LIVE_HEARTBEAT = env.float("DARKROOM_LIVE_HEARTBEAT", default=15.0)
# false: pages poll as before (kept for comparison benches and for proxies that buffer).
DARKROOM_PORTAL_LIVE = env.bool("DARKROOM_PORTAL_LIVE", default=True)

# --- OpenAI-compatible API (/v1) ---------------------------------------------------
# How long a synchronous API call waits for its job before answering 504 with the job id.
DARKROOM_API_WAIT_CEILING = env.float("DARKROOM_API_WAIT_CEILING", default=300.0)
# Redis channel the worker publishes finished generation ids on (Redis broker only).
DARKROOM_API_FINISHED_CHANNEL = env("DARKROOM_API_FINISHED_CHANNEL", default="darkroom:finished")
# Without Redis (or as a safety net for a lost message) waiters re-read the job this often.
DARKROOM_API_POLL_INTERVAL = env.float("DARKROOM_API_POLL_INTERVAL", default=1.0)
# How long an Idempotency-Key is remembered.
DARKROOM_API_IDEMPOTENCY_TTL = env.int("DARKROOM_API_IDEMPOTENCY_TTL", default=24 * 3600)
# How long after its job was created a retry by the SDK (x-stainless-retry-count >= 1,
# no Idempotency-Key) of an unanswered call joins that job instead of starting another.
# Longer than the SDK's own timeout (600 s by default) plus its backoff.
DARKROOM_API_RETRY_WINDOW = env.int("DARKROOM_API_RETRY_WINDOW", default=900)
# Lifetime of the signed image URLs the API returns, counted from the image's creation
# (they are bearer links: short by default). They end earlier when the image is deleted
# or its owner deactivated or erased.
DARKROOM_API_URL_MAX_AGE = env.int("DARKROOM_API_URL_MAX_AGE", default=7 * 24 * 3600)
# Base for absolute URLs in API answers; empty: taken from the request's host.
DARKROOM_PUBLIC_URL = env("DARKROOM_PUBLIC_URL", default="")
# Image requests (POST /v1/images/*) per minute per API key; over it: 429 rate_limit_exceeded.
# 0 turns the limit off. Counted in the cache (CACHES above).
DARKROOM_API_RATE_LIMIT = env.int("DARKROOM_API_RATE_LIMIT", default=120)
# The largest request body /v1 takes (bytes): refused with 413 as soon as Content-Length
# says more, or as soon as more arrived, before anything is spooled.
DARKROOM_API_MAX_BODY_BYTES = env.int("DARKROOM_API_MAX_BODY_BYTES", default=60 * 1024 * 1024)
# Threads for the API's short database calls (generations/api/sync.py); each holds a
# pooled connection only while it runs a call.
DARKROOM_API_THREADS = env.int("DARKROOM_API_THREADS", default=16)

# --- Operations ---------------------------------------------------------------------
# "json": one JSON object per line with request_id, job_id, user_id, model, channel.
LOGGING = logging_config(
    fmt=env("DARKROOM_LOG_FORMAT", default="plain"), level=env("LOG_LEVEL", default="INFO")
)
# The worker logs through LOGGING above (same format and context) instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# GET /metrics answers a request with `Authorization: Bearer <token>` (when a token is set)
# or from these networks (CIDRs, comma-separated; default loopback and private ranges;
# empty: the token only). Anyone else gets 401.
DARKROOM_METRICS_TOKEN = env("DARKROOM_METRICS_TOKEN", default="")
DARKROOM_METRICS_NETWORKS = env.list("DARKROOM_METRICS_NETWORKS", default=list(PRIVATE_NETWORKS))
try:
    check_networks([*DARKROOM_METRICS_NETWORKS, *DARKROOM_TRUSTED_PROXIES])
except ValueError as exc:
    raise ImproperlyConfigured(
        f"DARKROOM_METRICS_NETWORKS / DARKROOM_TRUSTED_PROXIES: {exc}."
    ) from None

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# --- Security ------------------------------------------------------------------------
# DARKROOM_HTTPS=true once the site is served over HTTPS only (the proxy sets
# X-Forwarded-Proto): plain-HTTP requests are redirected and browsers are told, by HSTS,
# never to use HTTP again. /healthz, /readyz and /metrics are answered before the redirect.
DARKROOM_HTTPS = env.bool("DARKROOM_HTTPS", default=False)
SECURE_SSL_REDIRECT = DARKROOM_HTTPS
SECURE_HSTS_SECONDS = env.int("DARKROOM_HSTS_SECONDS", default=31_536_000) if DARKROOM_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DARKROOM_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DARKROOM_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts only from our own files, never inline.
# Images may also come from the bucket's signed URLs (the portal redirects to them).
_csp_images = ["'self'", "data:", "blob:", *env.list("DARKROOM_CSP_IMG_SRC", default=[])]
if STORAGE_BACKEND == "s3":
    _csp_images.append(env("AWS_S3_ENDPOINT_URL", default="") or "https://*.amazonaws.com")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # style attributes (aspect-ratio swatches) are inline; scripts are not.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": _csp_images,
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # No form-action: the single sign-on form is answered by a redirect to the identity
        # provider, which form-action would block (it applies to redirects too).
        "frame-ancestors": ["'none'"],
    }
}
