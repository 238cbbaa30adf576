"""A minimal Flask app cached by Flask-Caching on cachectl.

    pip install 'cachectl-redis[flask]'
    flask --app examples/flask_app/app.py run                        # the embedded store
    CACHECTL_URL=redis://127.0.0.1:6379/0 flask --app examples/flask_app/app.py run

GET /report twice: the second answer comes from the cache ("computed" stays 1).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_caching import Cache


def create_app(url: str | None = None) -> Flask:
    """The app, its cache on url (default: $CACHECTL_URL, else the embedded store)."""
    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="cachectl.contrib.cachelib.CachectlCache",
        CACHE_DEFAULT_TIMEOUT=300,
        CACHE_OPTIONS={
            "url": url or os.environ.get("CACHECTL_URL") or "memory://",
            "namespace": "flask-example",
        },
    )
    cache = Cache(app)
    computed = {"report": 0}

    @app.get("/report")
    @cache.cached(timeout=60)
    def report() -> dict[str, Any]:
        # Stands for an expensive query; the dict is cached (msgpack), the JSON made per call.
        computed["report"] += 1
        return {"computed": computed["report"], "total": sum(range(1_000_000))}

    @app.get("/visits")
    def visits() -> dict[str, Any]:
        # inc is atomic on the server: right across processes and workers.
        return {"visits": cache.cache.inc("visits")}  # cache.cache: the CachectlCache

    @app.post("/report/refresh")
    def refresh() -> dict[str, Any]:
        return {"deleted": cache.delete("view//report")}

    return app


app = create_app()
