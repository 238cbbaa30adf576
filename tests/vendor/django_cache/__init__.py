"""Django 5.2.19's tests/cache/tests.py and models.py (BSD, see LICENSE), run against cachectl.

Changed from upstream: one line, the dotted path of custom_key_func (upstream "cache.tests",
here "tests.vendor.django_cache.tests"). configure() below is ours, not Django's.
"""

from __future__ import annotations

import django
from django.conf import settings


def configure() -> None:
    """Configure Django once per process for cachectl's tests (this app, in-memory SQLite)."""
    if settings.configured:
        return
    settings.configure(
        INSTALLED_APPS=["tests.vendor.django_cache"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={"default": {"BACKEND": "cachectl.contrib.django.CachectlCache"}},
        USE_TZ=True,
        ALLOWED_HOSTS=["testserver"],  # as Django's test runner has it
        SECRET_KEY="cachectl-tests",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
