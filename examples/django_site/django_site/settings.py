"""A minimal Django site whose cache is cachectl.

pip install 'cachectl-redis[django]'
python manage.py runserver                                        # the embedded store
CACHECTL_URL=redis://127.0.0.1:6379/0 python manage.py runserver  # Redis
"""

import os

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "django_site.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

CACHES = {
    "default": {
        "BACKEND": "cachectl.contrib.django.CachectlCache",
        # Empty (or "memory://"): cachectl's embedded store, nothing to run.
        "LOCATION": os.environ.get("CACHECTL_URL", ""),
        "TIMEOUT": 300,
        # Keys are stored as django:site:<version>:<key>, so that
        # `cachectl --namespace django flush --prefix site` removes this site's entries.
        "KEY_PREFIX": "site",
        "OPTIONS": {"namespace": "django", "socket_timeout": 0.25},
    }
}
