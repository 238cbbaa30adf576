"""Run the cachectl demo shop: `uvicorn examples.app.main:app` or `python examples/app/main.py`.

Settings come from the environment: CACHECTL_URL (default: the in-process memory store),
DEMO_DB_PATH (default: a file in the system temp directory) and CACHECTL_ADMIN_TOKEN.
"""

from __future__ import annotations

import os

from cachectl.demo.app import create_app

app = create_app()

if __name__ == "__main__":
    import uvicorn

    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    uvicorn.run(app, host=host, port=port)
