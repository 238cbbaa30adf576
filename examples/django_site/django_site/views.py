"""Views that cache through Django's cache API, sync and async.

The cached values are dicts and lists (what `QuerySet.values()` gives): cachectl stores msgpack,
never pickle, so a model instance is a TypeError at set. An HttpResponse (cache_page, the
cache middleware) is stored as plain data: status, headers, content, cookies.
"""

import time
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from cachectl import BackendUnavailable

COMPUTED = {"report": 0, "async": 0, "page": 0}


def build_report(kind: str) -> dict[str, Any]:
    # Stands for an expensive query.
    COMPUTED[kind] += 1
    return {"computed": COMPUTED[kind], "rows": [{"id": n, "square": n * n} for n in range(5)]}


def report(request: HttpRequest) -> JsonResponse:
    data = cache.get("report")
    hit = data is not None
    if not hit:
        data = build_report("report")
        cache.set("report", data, timeout=60)
    response = JsonResponse(data)
    response["X-Cache"] = "HIT" if hit else "MISS"
    return response


async def async_report(request: HttpRequest) -> JsonResponse:
    # Django's a* methods run on cachectl's AsyncCache: no thread hop.
    data = await cache.aget_or_set("async-report", lambda: build_report("async"), timeout=60)
    return JsonResponse(data)


def visits(request: HttpRequest) -> JsonResponse:
    cache.add("visits", 0, timeout=None)
    try:
        count = cache.incr("visits")
    except BackendUnavailable:
        # Redis is out: the count is not made where it would be lost (see fallback_counters).
        return JsonResponse({"visits": None, "at": time.time()}, status=503)
    return JsonResponse({"visits": count, "at": time.time()})


def page(request: HttpRequest) -> HttpResponse:
    COMPUTED["page"] += 1
    return HttpResponse(f"<p>page computed {COMPUTED['page']} time(s)</p>")
