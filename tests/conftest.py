"""Shared fixtures, one plugin module a topic (tests/plugins/): real servers, the cache under
test, the command-line tool, and real HTTP. Add a fixture to the module it belongs to."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = [
    "pytester",
    "tests.plugins.servers",
    "tests.plugins.core",
    "tests.plugins.cli",
    "tests.plugins.http",
]

# CI runs the examples a fixed seed gives, so a red build is one anyone can run again; a local
# run keeps exploring new ones.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
