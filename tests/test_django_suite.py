"""Django's own cache backend tests (BaseCacheTests, vendored) against CachectlCache.

On the embedded store and on a real redis-server; the tests that can only pass by pickling
arbitrary objects are skipped, each with its reason (SKIPPED, also in docs/django.md).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("django")

from tests.vendor.django_cache import configure

configure()

from django.test import SimpleTestCase, override_settings  # noqa: E402

from tests.vendor.django_cache.tests import (  # noqa: E402
    BaseCacheTests,
    caches_setting_for_tests,
)

PICKLES = "stores a {} by pickling it; cachectl stores msgpack only (TypeError at set)"
#: Upstream tests this backend does not run, and why.
SKIPPED = {
    "test_data_types": "caches a function and a class by pickling them; cachectl stores msgpack "
    "only (the other types of this test are covered in test_django_backend.py)",
    "test_cache_read_for_model_instance": PICKLES.format("model instance"),
    "test_cache_write_for_model_instance_with_deferred": PICKLES.format("QuerySet"),
    "test_cache_read_for_model_instance_with_deferred": PICKLES.format("QuerySet"),
    "test_add_fail_on_pickleerror": "expects pickle.PickleError for an unpicklable object; "
    "cachectl never pickles and raises TypeError (SerializationError) for it",
    "test_set_fail_on_pickleerror": "expects pickle.PickleError for an unpicklable object; "
    "cachectl never pickles and raises TypeError (SerializationError) for it",
}
#: As for Django's RedisCache: culling is the server's eviction policy, not the backend's
#: (these tests skip themselves when the caches are absent).
EXCLUDED = {"cull", "zero_cull"}

pytestmark = pytest.mark.usefixtures("django_caches_closed")


def _skipping(cls: type) -> type:
    for name, reason in SKIPPED.items():
        setattr(cls, name, pytest.mark.skip(reason=reason)(getattr(cls, name)))
    return cls


class _CachectlCacheTests(BaseCacheTests):  # type: ignore[misc]
    location = ""

    def setUp(self) -> None:
        settings: dict[str, Any] = caches_setting_for_tests(
            BACKEND="cachectl.contrib.django.CachectlCache",
            LOCATION=self.location,
            OPTIONS={"namespace": "django-suite", "socket_timeout": 2.0, "pool_timeout": 2.0},
            exclude=EXCLUDED,
        )
        override = override_settings(CACHES=settings)
        override.enable()
        self.addCleanup(override.disable)
        super().setUp()


@_skipping
class CachectlMemoryCacheTests(_CachectlCacheTests, SimpleTestCase):
    """The embedded store (LOCATION "memory://")."""

    location = "memory://"


@_skipping
@pytest.mark.usefixtures("_redis_location")
class CachectlRedisCacheTests(_CachectlCacheTests, SimpleTestCase):
    """A real redis-server started by the fixture."""


@pytest.fixture
def _redis_location(request: pytest.FixtureRequest, redis_url: str) -> None:
    request.instance.location = redis_url
