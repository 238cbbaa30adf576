"""The vendored suite as a Django app (its models need one); ours, not Django's."""

from django.apps import AppConfig


class DjangoCacheTestsConfig(AppConfig):
    name = "tests.vendor.django_cache"
    label = "cache"
