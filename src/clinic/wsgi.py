import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
application = get_wsgi_application()

from clinic.core.startup import serving_refused_reason, startup_objects_freeze  # noqa: E402

_reason = serving_refused_reason()
if _reason:
    raise SystemExit(f"Refusing to serve: {_reason}")
startup_objects_freeze()
