"""Start throwaway servers for a benchmark run (never one someone else runs)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import RedisServer, SentinelGroup

__all__ = ["RedisServer", "SentinelGroup"]
