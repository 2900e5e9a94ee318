"""Settings, read from the environment (django-environ) and, for developers, a local `.env`.

Unsafe defaults (insecure SECRET_KEY, development encryption key) exist only while DEBUG is
on or the test suite runs; production refuses to start without real values. DATABASE_URL is
always required: with none, `make run` and `make test` set it to an embedded PostgreSQL
(devkit.embedded, development only) before anything reads these settings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu.entity import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
TESTING = os.environ.get("MAJISMART_TESTING") == "1"

# A developer's `.env` (the one `make run` writes) configures development only. The test settings
# set MAJISMART_DOTENV to nothing, and every process the suite starts inherits that, so no value
# in it (DEBUG, DATABASE_URL, REDIS_URL, BASE_DOMAIN...) reaches a test, whichever ran first.
DOTENV = os.environ.get("MAJISMART_DOTENV", str(BASE_DIR / ".env"))

env = environ.Env()
if not TESTING and DOTENV and Path(DOTENV).exists():
    env.read_env(DOTENV)


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (docker/k8s secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
UNSAFE_DEFAULTS_OK = DEBUG or TESTING

_INSECURE_KEY = "django-insecure-majismart-development-only-key-never-use-in-production"
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not UNSAFE_DEFAULTS_OK:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG off) refuses to start without a real "
            "SECRET_KEY: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = _INSECURE_KEY
elif not UNSAFE_DEFAULTS_OK and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY is too weak for production: use 32+ random characters.")

BASE_DOMAIN = env.str("BASE_DOMAIN", default="majismart.localhost").lower().strip(".")
ALLOWED_HOSTS = [BASE_DOMAIN, f".{BASE_DOMAIN}", *env.list("EXTRA_ALLOWED_HOSTS", default=[])]
# Links we build to a provider's own domain (sign-up hand-off, callback URLs, emails).
SITE_SCHEME = env.str("SITE_SCHEME", default="http" if DEBUG else "https")
SITE_PORT = env.str("SITE_PORT", default="")
# Forms post to their own origin; no sibling provider's domain is ever trusted for CSRF.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- apps -------------------------------------------------------------------------------
# Auth and sessions are in BOTH lists: every provider schema has its own users and its own
# sessions, so a cookie minted on one provider's domain can never resolve to a user on another.
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Django admin on the platform's domain, asking platform admins for a two-factor code when
    # DEBUG is off (accounts/admin_site.py).
    "accounts.admin_apps.PlatformAdminConfig",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # OpClass in index expressions (the audit log's case-blind actor index)
    "accounts",
    "axes",
    "django_otp",  # two-factor devices are accounts models (accounts/two_factor.py), where the users are
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # The top of the stack (URLconfs, the demo): no models; listed for its seed_demo command.
    "web",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "accounts",
    "axes",
    "notifications",
    "clients",
    "meters",
    "billing",
    "payments",
    "fieldwork",
    "arrears",
    "privacy",
    "reports",
    "selfservice",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Provider"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "web.urls_public"
ROOT_URLCONF = "web.urls_tenant"
# New providers are cloned from this migrated, empty schema instead of replaying every
# migration (see tenants/services.py and bench/bench_provider_create.py for the figures).
TENANT_BASE_SCHEMA = "tenant_base"
TENANT_CREATION_FAKES_MIGRATIONS = env.bool("TENANT_CLONE", default=True)

MIDDLEWARE = [
    # The request's id (X-Request-ID) for every log line and the answer's header.
    "majismart.logcontext.RequestIdMiddleware",
    # /healthz answers before the HTTPS redirect: probes talk plain HTTP to gunicorn.
    "majismart.middleware.HealthCheckMiddleware",
    # Times every other request by view; answers /metrics (bearer METRICS_TOKEN) for any Host.
    "majismart.metrics.MetricsMiddleware",
    # Security headers wrap every other answer (a suspended provider's page, an unknown host's 404).
    "django.middleware.security.SecurityMiddleware",
    "majismart.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, with the admin's styles
    "majismart.middleware.SecurityHeadersMiddleware",
    "accounts.middleware.AuditContextMiddleware",  # the request's IP and user agent for audit rows
    "django_tenants.middleware.main.TenantMainMiddleware",
    "majismart.middleware.SuspendedProviderMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before login: the language switch's cookie, else the browser's Accept-Language (`sw` gets
    # Kiswahili). After the tenant (the provider's default) and sessions, before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "majismart.logcontext.UserIdMiddleware",  # the signed-in user's numeric id for log lines
    # Signed in, a person's own stored language wins (a client's, a staff member's; blank: the
    # provider's default); signed out, the provider's default when the browser names neither.
    "accounts.languages.LanguageMiddleware",
    # request.user.is_verified(): Django admin's two-factor check (no query unless the session
    # names a device, which only an admin login does).
    "django_otp.middleware.OTPMiddleware",
    # Signed-in users accept a newly published privacy policy or terms before going on.
    "privacy.policy.PolicyAcceptanceMiddleware",
    # Staff whose role the owner requires two-factor authentication for enrol before going on.
    "accounts.two_factor.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # A NUL character in a query string, or one that reached the database, is a 400, not a 500.
    "majismart.badinput.BadInputMiddleware",
]

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
                "majismart.context_processors.site",
                "privacy.cookies.cookie_context",
                "privacy.policy.policy_context",
            ],
            "builtins": ["majismart.template_filters", "accounts.template_filters", "django.templatetags.i18n"],
        },
    }
]

WSGI_APPLICATION = "majismart.wsgi.application"

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL is not set (`make run` and `make test` start an embedded "
                               "PostgreSQL when it is unset in the shell).")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# A unix-socket directory arrives percent-encoded in the URL's host part.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST") or "")
DATABASES["default"]["ENGINE"] = "majismart.dbbackend"  # django-tenants' backend, its table list per schema
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# Set search_path once per schema switch, not before every query (4.0.1 re-sets it after rollbacks).
TENANT_LIMIT_SET_CALLS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis, cache, celery ---------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, but a process whose Redis is unreachable keeps its cache in
            # its own memory until Redis answers again (majismart/cache.py): the site stays up.
            "BACKEND": "majismart.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_FUNCTION": "django_tenants.cache.make_key",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_FUNCTION": "django_tenants.cache.make_key",
        }
    }

# Public-schema data read on every provider's domain (policy versions): keys without a schema,
# so one write in the public schema clears it everywhere.
CACHES["platform"] = {**CACHES["default"], "KEY_FUNCTION": "django.core.cache.backends.base.default_key_func",
                      "KEY_PREFIX": "platform"}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Nothing in the project waits for a task's result, so none is stored: a web process that sends
# a task then neither subscribes to its result in Redis nor fails when Redis does. (Tests that
# read a real worker's results give it CELERY_RESULT_BACKEND.)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
# A publish that the broker does not take within a few seconds is given up and the message kept
# in PostgreSQL (tenants/outbox.py), to be sent when the broker is back: a request, a callback
# or beat never hangs on a Redis that is down or cut off. The timeouts bound every Redis socket
# of Celery's (a dead connection that swallows packets included); the visibility timeout bounds
# how long a message taken by a worker that died waits before Redis hands it out again.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# health_check_interval: a connection left half-open by a network cut is dropped and made again
# within about 2 x 10 s (kombu's default of 25 s left a worker deaf for 51 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "visibility_timeout": 900,
                                   "health_check_interval": 10}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Without Redis there is no worker: tasks run in-process, as they are sent.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# One queue per group of work (majismart/queues.py): payments, messages, documents, reports,
# maintenance, each `<CELERY_QUEUE_PREFIX><group>`. A worker started without -Q consumes all of
# them and the default queue; `-Q payments` makes a worker of one group.
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
# Each bound by its own name (left out, Celery binds them all by the default queue's name, and a
# message sent to one would land in every one).
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in (
    CELERY_TASK_DEFAULT_QUEUE,
    *(f"{CELERY_QUEUE_PREFIX}{group}" for group in ("payments", "messages", "documents", "reports", "maintenance")))]
CELERY_TASK_ROUTES = ("majismart.queues.route",)
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TENANT_CACHE_SECONDS = 30
CELERY_TIMEZONE = "Africa/Nairobi"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_RESULT_EXPIRES = 3600
# A worker logs through LOGGING (JSON in production, with the task's id, name and schema), not
# through a root handler of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A worker started with WORKER_NICENESS > 0 runs at that much lower CPU priority (os.nice, its
# pool processes with it): docker-compose gives 10 to the documents and reports workers, so on a
# machine short of CPU a billing day's PDFs and a report refresh give way to payments. 0 (the
# default): the usual priority.
WORKER_NICENESS = env.int("WORKER_NICENESS", default=0)
if not 0 <= WORKER_NICENESS <= 19:
    raise ImproperlyConfigured(f"WORKER_NICENESS is 0 (the usual priority) to 19 (the lowest), not {WORKER_NICENESS}.")

# --- auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Trust X-Forwarded-Proto only when a proxy we run sets it; otherwise any client could claim https.
# Reverse proxies in front of gunicorn: the client's address is that many hops from the right
# of X-Forwarded-For (login lockout, callback screening); 0 trusts REMOTE_ADDR only.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- HTTPS, HSTS, Content-Security-Policy, Permissions-Policy -------------------------------
# Production (DEBUG off) redirects plain HTTP to HTTPS and sends HSTS; the TLS-terminating proxy
# must say so in X-Forwarded-Proto (TRUSTED_PROXY_COUNT >= 1), or every request redirects.
# /healthz never redirects: HealthCheckMiddleware answers before SecurityMiddleware (and the
# exemption below keeps it so if the order changes).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not UNSAFE_DEFAULTS_OK)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
# One year, every provider's subdomain included (they are all served by the same proxy and its
# wildcard certificate), and eligible for browsers' preload lists. 0 turns HSTS off.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if UNSAFE_DEFAULTS_OK else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
# No page runs inline script or carries an inline style: everything comes from our own static
# files (no CDN). Swagger UI (/api/docs/, web/urls_tenant.py) and Django's admin
# (majismart/middleware.py) alone add inline styles; an analytics script, when one is
# configured, adds its origin (see ANALYTICS_SCRIPT_URL).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "connect-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        # The card payment form's answer redirects to Paystack's checkout page, and sign-up's to
        # the new provider's own domain (any port where development serves one).
        "form-action": [SELF, "https://checkout.paystack.com",
                        f"*.{BASE_DOMAIN}" + (":*" if UNSAFE_DEFAULTS_OK else "")],
    },
}
# Browser features no page uses are switched off for our pages and anything they could embed.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
    "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
    "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "serial", "usb",
    "xr-spatial-tracking"))

# Lock an account out after repeated failures (per schema: attempts live in each provider's schema).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# The client's address by the project's one rule (REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies
# of ours the hop that many from the right of X-Forwarded-For): without it axes (no django-ipware
# here) would record the proxy's address, and five wrong passwords from anyone would lock a user
# out for everyone; entries further left are the caller's own words and cannot dodge a lockout.
AXES_CLIENT_IP_CALLABLE = "accounts.middleware.client_ip"

# --- rate limits ------------------------------------------------------------------------
# Counted in the shared cache (Redis), per provider schema (accounts/ratelimit.py); written N/s,
# N/m, N/h or N/d. The API: requests per API key. The public forms (sign-up, login, password
# reset, portal registration, the pay link's M-Pesa prompt): POSTs per client address (generous:
# a mobile carrier puts many phones behind one address) and per account, phone or email named.
# Africa's Talking's callbacks (USSD, incoming SMS): a ceiling per provider far above any real
# traffic, against a flood; each phone's USSD steps have their own limit (selfservice/ussd.py).
RATE_LIMIT_API = env.str("RATE_LIMIT_API", default="600/m")
RATE_LIMIT_FORMS_PER_IP = env.str("RATE_LIMIT_FORMS_PER_IP", default="60/m")
RATE_LIMIT_FORMS_PER_ACCOUNT = env.str("RATE_LIMIT_FORMS_PER_ACCOUNT", default="10/m")
RATE_LIMIT_CALLBACKS_PER_PROVIDER = env.str("RATE_LIMIT_CALLBACKS_PER_PROVIDER", default="3000/m")
for _name in ("RATE_LIMIT_API", "RATE_LIMIT_FORMS_PER_IP", "RATE_LIMIT_FORMS_PER_ACCOUNT",
              "RATE_LIMIT_CALLBACKS_PER_PROVIDER"):
    if not re.fullmatch(r"\s*[1-9]\d*\s*/\s*[smhdSMHD][a-zA-Z]*\s*", vars()[_name]):
        raise ImproperlyConfigured(f"{_name} is written N/s, N/m, N/h or N/d (e.g. 600/m), not {vars()[_name]!r}.")

# --- encryption of personal data --------------------------------------------------------
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotate by prepending a new one).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not UNSAFE_DEFAULTS_OK:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set (required when DEBUG is off).")
    # Deterministic development key: data encrypted with it is only as safe as a dev laptop.
    FIELD_ENCRYPTION_KEYS = ["ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZCEhISE="]
# Keys the blind indexes (search by phone, ID, email) with HMAC-SHA256. Unlike the encryption
# keys it is never rotated: changing it would orphan every index.
BLIND_INDEX_KEY = env_secret("BLIND_INDEX_KEY")
if not BLIND_INDEX_KEY:
    if not UNSAFE_DEFAULTS_OK:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is not set (required when DEBUG is off): 32+ random characters.")
    BLIND_INDEX_KEY = "development-blind-index-key-not-for-production"

# --- backups of one provider (tenants/backup.py) -------------------------------------------
# 32 random bytes, URL-safe base64: seals backup_provider's archives. backup_provider and
# restore_provider refuse to run without it when DEBUG is off; keep it apart from the backups.
BACKUP_ENCRYPTION_KEY = env_secret("BACKUP_ENCRYPTION_KEY")

# --- email ------------------------------------------------------------------------------
if not env.str("EMAIL_URL", default="") and not UNSAFE_DEFAULTS_OK:
    # Password-reset links printed to a container log reach nobody (and leak to whoever reads logs).
    raise ImproperlyConfigured("EMAIL_URL is not set (required when DEBUG is off), e.g. smtp+tls://user:pass@host:587.")
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"MajiSmart <no-reply@{BASE_DOMAIN}>")
# An email service's HTTP API through django-anymail instead of SMTP: ANYMAIL_ESP names the
# backend (mailgun, sendgrid, postmark, brevo, amazon_ses, mailjet, resend, ...), ANYMAIL_API_KEY
# its key (ANYMAIL_API_KEY_FILE works too); other ANYMAIL_<ESP>_<SETTING> values pass through.
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="").strip().lower()
if ANYMAIL_ESP:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
    ANYMAIL = {key[len("ANYMAIL_"):]: value for key, value in os.environ.items()
               if key.startswith(f"ANYMAIL_{ANYMAIL_ESP.upper()}_")}
    if env_secret("ANYMAIL_API_KEY"):
        ANYMAIL[f"{ANYMAIL_ESP.upper()}_API_KEY"] = env_secret("ANYMAIL_API_KEY")

# --- SMS (Africa's Talking) -------------------------------------------------------------
# Each provider sends with its own Africa's Talking username and key (Messages → Settings).
# `make run` points the sandbox at the local stand-in (devkit.standins.africastalking).
AFRICASTALKING_URLS = {
    "sandbox": env.str("AFRICASTALKING_SANDBOX_URL", default="https://api.sandbox.africastalking.com").rstrip("/"),
    "live": env.str("AFRICASTALKING_LIVE_URL", default="https://api.africastalking.com").rstrip("/"),
}
NOTIFICATIONS_HTTP_TIMEOUT = env.float("NOTIFICATIONS_HTTP_TIMEOUT", default=15.0)

# --- payments ---------------------------------------------------------------------------
# Daraja (M-Pesa) and Paystack base URLs. Point them at the project's stand-in
# (devkit.standins.daraja, started by `make run`) for development and tests.
DARAJA_URLS = {
    "sandbox": env.str("DARAJA_SANDBOX_URL", default="https://sandbox.safaricom.co.ke").rstrip("/"),
    "production": env.str("DARAJA_PRODUCTION_URL", default="https://api.safaricom.co.ke").rstrip("/"),
}
PAYSTACK_URL = env.str("PAYSTACK_URL", default="https://api.paystack.co").rstrip("/")
PAYMENTS_HTTP_TIMEOUT = env.float("PAYMENTS_HTTP_TIMEOUT", default=15.0)
# Safaricom's published callback addresses (shared/reference/payments-apis.md §1.7); a provider
# chooses whether callbacks from elsewhere are only logged (the default) or refused.
MPESA_CALLBACK_IPS = env.list("MPESA_CALLBACK_IPS", default=[
    "196.201.214.200", "196.201.214.206", "196.201.213.114", "196.201.214.207", "196.201.214.208",
    "196.201.213.44", "196.201.212.127", "196.201.212.138", "196.201.212.129", "196.201.212.136",
    "196.201.212.74", "196.201.212.69"])
# How long an emailed or texted pay link works.
PAY_LINK_MAX_AGE_DAYS = env.int("PAY_LINK_MAX_AGE_DAYS", default=45)
# STK pushes a client may start: one per phone per minute (Daraja locks a subscriber meanwhile),
# and this many per client per hour.
STK_PUSHES_PER_HOUR = env.int("STK_PUSHES_PER_HOUR", default=5)
# A push with no callback after this long is asked about (Daraja's STK query).
STK_QUERY_AFTER_SECONDS = env.int("STK_QUERY_AFTER_SECONDS", default=120)

# --- i18n, time -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sw", "Kiswahili")]
TIME_ZONE = "Africa/Nairobi"  # shown in Nairobi time; stored in UTC (USE_TZ)
USE_I18N = True
# The Kiswahili catalogue lives in the repository (.po) and is compiled by the project's own
# setup (manage.py compile_catalogues, majismart/catalogues.py): no GNU gettext anywhere.
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "majismart_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_TZ = True

# --- static, media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))  # collectstatic's output
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = BASE_DIR / env.str("MEDIA_DIR", default="media")
MEDIA_URL = "/media/"
# Stored files (README "Files"): each provider's under its schema name, on the local filesystem
# (MEDIA_ROOT/<schema>/) unless STORAGE_BACKEND=s3 puts them in an S3-compatible bucket
# (<schema>/... keys; MinIO in docker-compose). Private either way: users fetch them only
# through the permission-checked views, which stream them from the storage.
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem").lower()
if STORAGE_BACKEND not in ("filesystem", "s3"):
    raise ImproperlyConfigured(f"STORAGE_BACKEND is {STORAGE_BACKEND!r}: use filesystem or s3.")
DEFAULT_STORAGE: dict[str, Any] = {"BACKEND": "django_tenants.files.storage.TenantFileSystemStorage"}
if STORAGE_BACKEND == "s3":
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket must exist).")
    DEFAULT_STORAGE = {"BACKEND": "majismart.storage.TenantS3Storage"}
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None  # None: AWS itself
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    # Empty: boto3 finds credentials itself (an instance role, ~/.aws).
    AWS_ACCESS_KEY_ID = env_secret("AWS_ACCESS_KEY_ID") or None
    AWS_SECRET_ACCESS_KEY = env_secret("AWS_SECRET_ACCESS_KEY") or None
    AWS_LOCATION = env.str("AWS_LOCATION", default="").strip("/")  # a prefix before the schema's, to share a bucket
    AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="path")  # MinIO: bucket in the path
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_DEFAULT_ACL = "private"
    AWS_S3_FILE_OVERWRITE = False  # a second bill of the same name is noticed, never written over
    AWS_QUERYSTRING_AUTH = True  # any URL of a stored file is signed...
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=300)  # ...and short-lived
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.StaffAPIPermission"],
    "DEFAULT_PAGINATION_CLASS": "majismart.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "majismart.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "majismart.api.exception_handler",
    # DRF's defaults, refusing a NUL character in any field with a 400 naming it (majismart/badinput.py).
    "DEFAULT_PARSER_CLASSES": ["majismart.badinput.NulRefusingJSONParser", "majismart.badinput.NulRefusingFormParser",
                               "majismart.badinput.NulRefusingMultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # `?format=csv|xlsx` on a list is a download (majismart.api.paginated), not a renderer.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "majismart.negotiation.ExportNegotiation",
    "COERCE_DECIMAL_TO_STRING": True,
    # RATE_LIMIT_API per API key: 429 with Retry-After (accounts/ratelimit.py).
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.APIKeyThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MajiSmart API",
    "DESCRIPTION": "Per-provider REST API. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# --- metrics, health -------------------------------------------------------------------
# /metrics (majismart/metrics.py) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it
# is off. (Or METRICS_TOKEN_FILE.) PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself):
# a directory where gunicorn's workers keep their samples, so a scrape sums every worker.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# /healthz calls the callback inbox degraded when its oldest waiting callback is older than this.
HEALTH_CALLBACK_BACKLOG_SECONDS = env.int("HEALTH_CALLBACK_BACKLOG_SECONDS", default=300)

# --- logging ----------------------------------------------------------------------------
# Every handler redacts (majismart/log_redaction.py, the rule gunicorn's logs use too): no callback
# token, pay link or other credential in a path, and no query-string value (dashboard searches by
# phone or national ID number), reaches a log line, whichever logger wrote it.
# LOG_FORMAT `json` (the default when DEBUG is off): one JSON object a line with time (UTC),
# level, logger, message, request_id, schema, user_id (numeric), and in a Celery task its id and
# name (majismart/logcontext.py); `text` (the default in development): readable lines.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json").strip().lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT is json or text, not {LOG_FORMAT!r}.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant": {"()": "django_tenants.log.TenantContextFilter"},
                "context": {"()": "majismart.logcontext.ContextFilter"},
                "redact": {"()": "majismart.log_redaction.RedactFilter"}},
    "formatters": {
        "tenant": {"format": "%(asctime)s %(levelname)s [%(schema_name)s] %(name)s: %(message)s"},
        "json": {"()": "majismart.logcontext.JsonFormatter"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["tenant", "context", "redact"],
                    "formatter": "json" if LOG_FORMAT == "json" else "tenant"},
        "django.server": {"class": "logging.StreamHandler", "filters": ["redact"], "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default handlers for django.* (a second, unredacted copy on the console in DEBUG;
        # mail to ADMINS, none configured, with the request's query string) replaced: its records
        # (django.request, django.security.*) reach the root's console. runserver's own access lines
        # keep their handler and format, redacted.
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # WeasyPrint logs every step of every page at INFO; fontTools names each table it drops.
        "django.db.backends": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "ERROR"},
    },
}

# --- cookies ----------------------------------------------------------------------------
# An analytics script (e.g. a Plausible or Matomo snippet's URL), rendered only for visitors who
# allowed analytics in the cookie notice. Empty: none.
ANALYTICS_SCRIPT_URL = env.str("ANALYTICS_SCRIPT_URL", default="")
if ANALYTICS_SCRIPT_URL:  # the one outside origin the Content-Security-Policy lets in
    _analytics_origin = "/".join(ANALYTICS_SCRIPT_URL.split("/")[:3])
    for _directive in ("script-src", "connect-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive].append(_analytics_origin)

# --- product ----------------------------------------------------------------------------
RESERVED_SUBDOMAINS = {
    "www", "admin", "api", "static", "media", "mail", "smtp", "ftp", "app", "apps", "portal",
    "dashboard", "help", "support", "status", "docs", "blog", "billing", "pay", "payments",
    "mpesa", "login", "signup", "auth", "public", "majismart", "assets", "cdn", "test",
    "staging", "dev", "demo", "root", "system", "tenant", "tenant-base", "internal",
}

# --- error reporting (optional) ---------------------------------------------------------
# Sentry, when SENTRY_DSN is set: unhandled errors of requests and Celery tasks, with personal
# data scrubbed (majismart/sentry.py). SENTRY_TRACES_SAMPLE_RATE > 0 also sends that share of
# requests' performance traces.
SENTRY_DSN = env_secret("SENTRY_DSN")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN and not TESTING:  # the suite reports nowhere (its own test starts a child process)
    from majismart.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
                release=env.str("SENTRY_RELEASE", default=""))
