"""soulsite settings, read from environment variables.

Every default serves one machine with no setup (SQLite under ``var/``, the ORM
broker, the built-in sandbox gateway); each one can be overridden. The
variables are listed in README.md.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from soulwire import contract

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def envfloat(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("SOULSITE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or one generated once and kept in var/ (never a shared default)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DJANGO_DEBUG", "0")
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "csp",
    "simple_history",
    "generations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view is marked @login_not_required; a part of a page
    # asked for by htmx sends the whole page to the login (generations/web/login.py).
    "generations.web.login.LoginRequired",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # The two refusals before any view come after the security headers' middleware, so their
    # pages carry the headers too. First, a request too large to read gets a page saying the
    # limits, not a bare 400 (generations/web/limits.py): before anything else reads the body.
    "generations.web.limits.RequestSizeMiddleware",
    # A NUL byte in a path, query or form value is a 400 before any view (generations/web/middleware.py).
    "generations.web.middleware.RefuseNulBytes",
    # Records who changed prices, budgets, roles and memberships.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses logins for a locked-out account or address before checking passwords.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "soulsite.urls"
WSGI_APPLICATION = "soulsite.wsgi.application"

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
                "generations.web.context_processors.soulsite",
            ],
            # The template helpers live with the rest of the web layer, not in the app's root.
            "libraries": {"soul": "generations.web.templatetags.soul"},
        },
    },
    {
        # Only the gallery's cards, which a page draws dozens of times (see generations/web/jinja.py).
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "generations.web.jinja.environment"},
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'soulsite.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while a worker writes; the busy timeout
        # makes writers wait instead of failing; IMMEDIATE takes the write lock
        # when a transaction starts, so two writers never deadlock on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file, not memory, so that a real django-q2 cluster in
    # another process can share the test database (one file per test run).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters travel beside the SQL instead of being quoted into it in Python, and a query a
    # connection has run 5 times is prepared, so PostgreSQL stops parsing and planning it again.
    # Together they took 2-5 ms off the gallery's 22-29 ms at 100,000 job sets (docs/DECISIONS.md).
    # Prepared statements live as long as a connection, so they pay with DB_CONN_MAX_AGE > 0.
    # Behind a pooler in transaction mode that cannot keep them, set DB_PREPARED_STATEMENTS=0.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=5 if envbool("DB_PREPARED_STATEMENTS", "1") else None,
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
# English only: with translation off, every value a template prints skips a language lookup.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never routed publicly: files are served by an access-checking view
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Shared storage for several hosts: an S3-compatible bucket (AWS, MinIO, R2, ...)
# through django-storages (`pip install -e ".[s3]"`). SOUL_STORAGE=s3, or a bucket
# name, switches to it; local disk stays the default. Objects are private and
# never linked to: images still go through the access-checking view, and any URL
# the storage makes is signed and short-lived.
SOUL_STORAGE = os.environ.get("SOUL_STORAGE", "").strip().lower() or (
    "s3" if os.environ.get("AWS_STORAGE_BUCKET_NAME") else "local"
)
if SOUL_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"SOUL_STORAGE must be 'local' or 's3', not {SOUL_STORAGE!r}.")
if SOUL_STORAGE == "s3":
    if not os.environ.get("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("SOUL_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (and usually credentials).")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
            # Empty: AWS itself. Set for MinIO, Cloudflare R2, Backblaze B2, ...
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            # Empty: boto3's own chain (instance role, ~/.aws, ...).
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            # Like the local disk: a second file with the same name gets a new name, never overwrites.
            "file_overwrite": False,
        },
    }
# Serve straight from the source folders too, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# --- The Soul gateway -------------------------------------------------------

SOUL_API_KEY = os.environ.get("SOUL_API_KEY", "")
# Sandbox mode is on when no key is set: the app then talks to the local
# stand-in gateway (`manage.py soul_sandbox`), which accepts any key.
SOUL_SANDBOX = envbool("SOUL_SANDBOX", "0" if SOUL_API_KEY else "1")
SOUL_SANDBOX_PORT = envint("SOUL_SANDBOX_PORT", 8765)
SOUL_API_BASE_URL = os.environ.get(
    "SOUL_API_BASE_URL",
    f"http://127.0.0.1:{SOUL_SANDBOX_PORT}" if SOUL_SANDBOX else "https://gateway.pixazo.ai",
).rstrip("/")
if SOUL_SANDBOX and not SOUL_API_KEY:
    SOUL_API_KEY = "sandbox"
if not SOUL_SANDBOX and not SOUL_API_KEY:
    raise ImproperlyConfigured(
        "SOUL_SANDBOX is off but SOUL_API_KEY is not set. Set SOUL_API_KEY to your Pixazo "
        "subscription key, or unset SOUL_SANDBOX to use the built-in sandbox gateway."
    )
# The styles endpoint's full path is not documented; this is the likely one.
SOUL_STYLES_PATH = os.environ.get("SOUL_STYLES_PATH", contract.STYLES_PATH)
SOUL_CONNECT_TIMEOUT = envfloat("SOUL_CONNECT_TIMEOUT", 5.0)
SOUL_READ_TIMEOUT = envfloat("SOUL_READ_TIMEOUT", 30.0)
SOUL_MAX_IN_FLIGHT = envint("SOUL_MAX_IN_FLIGHT", 4)
# Most job sets one exploration (several styles, seeds, sizes... from one form send) may make.
SOUL_EXPLORE_LIMIT = envint("SOUL_EXPLORE_LIMIT", 48)
# An unconfirmed job set (sent, no answer) holds its in-flight slot this long after it was sent:
# by then the gateway has finished or refused it (docs/DECISIONS.md, "Unconfirmed").
SOUL_UNCONFIRMED_HOLD = envint("SOUL_UNCONFIRMED_HOLD", 10 * 60)  # seconds
SOUL_POLL_GIVE_UP = envint("SOUL_POLL_GIVE_UP", 2 * 60 * 60)  # seconds
# A job set in flight longer than max(this, 4 x the recent 90th percentile of its kind) gives
# its slot back so the line moves; it is still polled, more slowly (docs/DECISIONS.md, "A fair queue").
SOUL_STUCK_MIN_SECONDS = envfloat("SOUL_STUCK_MIN_SECONDS", 3 * 60.0)
SOUL_POLL_CONCURRENCY = envint("SOUL_POLL_CONCURRENCY", 4)
# Seconds between polls of a job set while Soul is usually finishing one like it. A finished
# image waits up to this long for the poll that finds it, so this trades lag against requests
# (measured choices in docs/DECISIONS.md, "When to poll").
SOUL_POLL_GAP = envfloat("SOUL_POLL_GAP", 1.5)
SOUL_DOWNLOAD_MAX_BYTES = envint("SOUL_DOWNLOAD_MAX_BYTES", 50 * 1024 * 1024)
SOUL_PUBLIC_URL = os.environ.get("SOUL_PUBLIC_URL", "").rstrip("/")
# Uploaded pictures (reference images and characters' pictures): at most this many bytes and
# pixels. 50 megapixels is above every common phone camera (48-50 MP); the check reads only the
# header, and Pillow's bomb guard uses the same ceiling (generations/upstream/pictures.py).
SOUL_UPLOAD_MAX_BYTES = envint("SOUL_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
SOUL_UPLOAD_MAX_PIXELS = envint("SOUL_UPLOAD_MAX_PIXELS", 50_000_000)
# How long the gateway's link to an uploaded reference works.
SOUL_REFERENCE_LINK_SECONDS = envint("SOUL_REFERENCE_LINK_SECONDS", 24 * 60 * 60)

# --- Request sizes, set on purpose ---------------------------------------------
# A request over a limit gets the "too large" page (413) saying what the limits are
# (generations/web/limits.py); Django's own refusals are turned into the same page.

# The whole body: twice the largest picture, so that a picture over its own limit (up to twice
# it) still reaches the form and is refused beside its field, in words; only beyond that is the
# request refused whole. nginx's client_max_body_size must be at least this (docs/DEPLOY.md).
SOUL_REQUEST_MAX_BYTES = envint("SOUL_REQUEST_MAX_BYTES", 2 * SOUL_UPLOAD_MAX_BYTES)
# Everything but the files: the largest honest form is the generate form (a prompt of at most
# 2,000 characters, up to 12 bytes each when percent-encoded, plus a 2,083-character URL: under
# 40 KB); 256 KB is ample and refuses a body stuffed with text before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# Uploads below this stay in memory, larger ones are spooled to a temporary file: Django's own
# 2.5 MB, so twenty people uploading at once cost tens of MB of memory, not hundreds.
FILE_UPLOAD_MAX_MEMORY_SIZE = int(2.5 * 1024 * 1024)
# Fields of one request (POST or query string): a bulk action sends one per picked image; a
# gallery page holds 24 cards of up to 4 images, so 1,000 is a dozen pages' worth of picks.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
# Files of one request: every form takes one picture at most.
DATA_UPLOAD_MAX_NUMBER_FILES = 5

# --- django-q2 ----------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "soulsite",
    # Two are enough: there are only two tasks, the tracker loop (which polls on threads of
    # its own) and the short "send what is waiting" nudge; each worker process costs ~40 MB.
    "workers": envint("SOUL_Q_WORKERS", 2),
    # A task may run this long; `retry` must exceed it or a slow task runs twice.
    # The tracker loop (generations.lifecycle.tracker) stays well inside it.
    "timeout": 120,
    "retry": 180,
    "max_attempts": 2,
    "ack_failures": True,
    # A missed tick is not worth replaying: the next one does the same work.
    "catch_up": False,
    "save_limit": 500,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.2

# --- Logging: to the console; never request headers (they carry the key). ---

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Mail: printed to the console unless an SMTP host is set ------------------

EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = "django.core.mail.backends." + ("smtp" if EMAIL_HOST else "console") + ".EmailBackend"
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "1")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "soulsite <soulsite@localhost>")

# --- Failed logins: django-axes locks a (username, address) pair, then an account --

# A pair is locked after this many failures: a person's typos lock out their own account from
# their own address, not everyone behind that address (an office) nor them elsewhere.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envfloat("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# An account is locked from every address after this many failures from all addresses together
# (0: never), against guessing one password from many addresses (generations/web/lockout.py).
AXES_ACCOUNT_FAILURE_LIMIT = envint("AXES_ACCOUNT_FAILURE_LIMIT", 20)
AXES_HANDLER = "generations.web.lockout.PairThenAccountHandler"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a reverse proxy, the client's address is in X-Forwarded-For (see docs/DEPLOY.md).
AXES_IPWARE_PROXY_COUNT = envint("AXES_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# --- HTTPS and security headers ------------------------------------------------

# On when the site is served over HTTPS (as SOUL_PUBLIC_URL says, unless told otherwise).
HTTPS = envbool("DJANGO_HTTPS", "1" if SOUL_PUBLIC_URL.startswith("https://") else "0")
if HTTPS:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SSL_REDIRECT", "1")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_HSTS_SUBDOMAINS", "1")
    # Only allows submitting the domain to the browsers' preload list; submitting is a separate step.
    SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", "1")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Scripts only from this site (htmx is vendored, there is no inline script);
# inline style attributes are allowed for image aspect ratios.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Media through nginx: the access-checked view answers with X-Accel-Redirect to
# this internal location instead of streaming the file itself (docs/DEPLOY.md).
SOUL_MEDIA_ACCEL_PREFIX = os.environ.get("SOUL_MEDIA_ACCEL_PREFIX", "")
