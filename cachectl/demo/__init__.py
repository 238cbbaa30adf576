"""The reference application: a FastAPI shop over a generated SQLite database, cached by cachectl.

    db.py          schema, the deterministic data generator, connections
    queries.py     the SQL behind every endpoint, returning plain JSON-able data
    cached.py      the read queries wrapped in @cache.cached, and the tag scheme
    routes.py      the HTTP endpoints: cached reads, writes that invalidate by tag
    app.py         create_app(), the factory for `uvicorn --factory cachectl.demo.app:create_app`
    endpoints.txt  the warm list for `cachectl warm`

Importing this package has no side effects; FastAPI is only imported by app.py and routes.py.
"""
