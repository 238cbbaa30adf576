"""The command-line transcripts of the docs, regenerated from real runs and checked.

    python scripts/cli_examples.py                 rewrite every checked transcript from a real run
    python scripts/cli_examples.py --check         run them again; fail where an output differs
    python scripts/cli_examples.py docs/cli.md     only the pages named

A transcript is a ```console block right after the comment `<!-- cli-example -->`. Its `$ `
lines are the commands, the source of truth; the lines after each are its output, which this
script writes. Every block runs in a fresh state: a redis-server of its own (started once), the
namespace `shop` written by `seed()` (dashboards, products, profiles, a few values cachectl did
not write, odd names, published stats), `CACHECTL_URL` and `CACHECTL_NAMESPACE` pointing at it,
100 columns, and a working directory holding the page's files (a ```text block right after
`<!-- cli-file: NAME -->`). The pages show the server as redis://127.0.0.1:16379/0.

Options in the comment: `head=N tail=M` keeps the first N and last M lines of each output with
a line `...` between (a `...` line matches any lines when checking); `unordered=1` compares
the words in any order (a sample of keys comes in SCAN order); `mask=REGEX`: what matches
REGEX may differ (the keys of a sample); `input="n"` runs the
command on a terminal and types that line (a confirmation prompt); `interrupt="TEXT"` sends
Ctrl-C once TEXT is printed (a server that runs until stopped).

`--check` compares the outputs word by word with what changes from run to run masked on both
sides: timings, rates, latencies and other decimals, ports, temporary paths, times of day,
tokens. Column widths and line wrapping may differ; words, rows, keys, counts and exit statuses
may not.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import json
import os
import pickle
import pty
import random
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: The pages whose transcripts are checked.
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
#: The server as the pages show it.
SHOWN_PORT = 16379
NAMESPACE = "shop"
COLUMNS = 100
#: Seconds a command may take before the run fails.
COMMAND_TIMEOUT = 120

MARKER = re.compile(r"^<!-- cli-example(?::(?P<options>[^>]*))? -->\n", re.MULTILINE)
FILE_MARKER = re.compile(r"^<!-- cli-file: (?P<name>[\w.-]+) -->\n", re.MULTILINE)
FENCE = re.compile(
    r"^(?P<fence>```+)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)


@dataclass
class Block:
    """One checked transcript: where its body lies in the page, its options and commands."""

    start: int
    end: int
    line: int
    options: dict[str, str]
    commands: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Page:
    path: Path
    text: str
    blocks: list[Block]
    files: dict[str, str]


def _fence_after(text: str, pos: int, language: str) -> re.Match[str]:
    fence = FENCE.match(text, pos)
    if fence is None or fence.group("info").strip() != language:
        line = text.count("\n", 0, pos) + 1
        raise SystemExit(f"line {line}: the marker must be followed by a ```{language} block")
    return fence


def parse(path: Path) -> Page:
    """The checked transcripts and the files of a page."""
    text = path.read_text()
    files = {}
    for marker in FILE_MARKER.finditer(text):
        files[marker.group("name")] = _fence_after(text, marker.end(), "text").group("body")
    blocks = []
    for marker in MARKER.finditer(text):
        fence = _fence_after(text, marker.end(), "console")
        options = dict(item.split("=", 1) for item in shlex.split(marker["options"] or ""))
        block = Block(
            start=fence.start("body"),
            end=fence.end("body"),
            line=text.count("\n", 0, fence.start()) + 1,
            options=options,
        )
        for chunk in re.split(r"^\$ ", fence.group("body"), flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            block.commands.append((command, output))
        if not block.commands:
            raise SystemExit(f"{path}:{block.line}: a transcript with no `$ ` command")
        blocks.append(block)
    return Page(path, text, blocks, files)


# ---------------------------------------------------------------------------------------------
# The data the transcripts run against
# ---------------------------------------------------------------------------------------------


def seed(url: str) -> None:
    """Write the namespace the transcripts read: the same keys, values and stats every time."""
    import redis

    from cachectl import Cache

    rng = random.Random(17)
    client = redis.Redis.from_url(url)
    client.flushall()
    with Cache.from_url(url, namespace=NAMESPACE, stats_interval=3600) as cache:
        for n in range(1, 121):
            series = [
                {
                    "day": f"2026-11-{day:02d}",
                    "orders": rng.randrange(100, 600),
                    "revenue": round(rng.uniform(20_000, 70_000), 2),
                }
                for day in range(1, 31)
            ]
            value = {"user_id": n, "widgets": ["orders", "revenue", "funnel"], "series": series}
            cache.set(f"dashboard:{n}", value, ttl=3600 + 97 * n, tags=[f"user:{n}"])
        cache.set_many(
            {
                f"product:{n}": {"id": n, "name": f"Product {n}", "price": 5 + n % 40}
                for n in range(1, 41)
            },
            ttl=6 * 3600,
        )
        for n in range(1, 31):
            cache.set(f"user:{n}:profile", {"id": n, "name": f"User {n}"}, tags=[f"user:{n}"])
        for n in range(1, 11):
            cache.set(f"recommendations:segment-{n}", [n, n + 1, n + 2], ttl=2 * 3600)
        cache.set("deep:nested", [[[["four levels"]]]])
        # Three values of clearly different sizes (random bytes do not compress), so the
        # biggest keys are the same in every run whatever the SCAN order.
        for name, size in (("daily", 12_000), ("weekly", 30_000), ("monthly", 60_000)):
            cache.set(f"report:{name}", rng.randbytes(size), ttl=24 * 3600)
        # The application's reads, as published stats: hits and misses per prefix.
        for n in range(1, 121):
            for _ in range(1 + n % 5):
                cache.get(f"dashboard:{n}")
        for n in range(1, 61):
            cache.get(f"product:{n}")  # 41-60 miss
        for n in range(1, 61):
            cache.get(f"user:{n}:profile")  # 31-60 miss
        cache.get_many([f"recommendations:segment-{n}" for n in range(1, 11)])
    raw = f"{NAMESPACE}:"
    # Values cachectl did not write, and names no one should have to read raw.
    line = "2026-11-26T08:00:00 GET /api/dashboard/summary 200 0.9 ms\n"
    client.set(f"{raw}legacy:log", line * 2000)
    client.set(f"{raw}legacy:json", json.dumps({"id": 7, "tags": ["a", "b"], "ok": True}))
    client.set(f"{raw}legacy:gzip", gzip.compress(b'{"report": "weekly", "rows": 52}', mtime=0))
    client.set(f"{raw}legacy:zlib", zlib.compress(b"plain text, deflated"))
    client.set(f"{raw}legacy:pickle", pickle.dumps({"user": 42}, protocol=4))
    client.set(f"{raw}product:broken", b'\xc1\x01\x01\x40\x00\x00\x00\x04"garbage')
    client.set(f"{raw}odd:esc\x1b[2Jkey".encode(), b"clears the screen if printed raw")
    client.set(f"{raw}odd:rtl\u202etxt.exe".encode(), b"reads backwards if printed raw")
    client.set(f"{raw}odd:bad\xff\xfeutf".encode("latin-1"), b"not UTF-8")
    client.hset(f"{raw}session:8f2c", mapping={"user": "42", "cart": "3 items"})
    # Two fields of the stats hash that no version of cachectl writes.
    client.hset(f"{NAMESPACE}#stats", mapping={"hits:bogus": "x", "nonsense": "1"})
    client.config_resetstat()
    client.close()


# ---------------------------------------------------------------------------------------------
# Running a command
# ---------------------------------------------------------------------------------------------


def environment(url: str, home: Path) -> dict[str, str]:
    """The environment of every command: this Python's console script first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHECTL_", "REDIS_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        CACHECTL_URL=url,
        CACHECTL_NAMESPACE=NAMESPACE,
        COLUMNS=str(COLUMNS),
        LINES="50",
        TERM="dumb",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        LC_ALL="C.UTF-8",
    )
    env.pop("FORCE_COLOR", None)
    return env


def run(command: str, env: dict[str, str], cwd: Path, options: dict[str, str]) -> tuple[str, int]:
    """The command's output (stdout and stderr as a terminal would show them) and status."""
    if "input" in options:
        return _run_on_a_terminal(command, env, cwd, options["input"])
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command}" if "interrupt" in options else command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    if "interrupt" in options:
        seen = ""
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while options["interrupt"] not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        _wait_for_the_page(seen)
        proc.send_signal(signal.SIGINT)
        out = seen + proc.stdout.read()
        return out, proc.wait(COMMAND_TIMEOUT)
    try:
        out, _ = proc.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"timed out after {COMMAND_TIMEOUT} s: {command}") from None
    return out, proc.returncode


def _wait_for_the_page(output: str) -> None:
    """Wait until the address the output names answers: a server stopped before it serves
    would not show how it stops."""
    import urllib.error
    import urllib.request

    found = re.search(r"http://127\.0\.0\.1:\d+/", output)
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while found and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(found.group(0), timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)


def _run_on_a_terminal(command: str, env: dict[str, str], cwd: Path, typed: str) -> tuple[str, int]:
    """Run command on a pseudo-terminal and type `typed` and Enter at its first prompt."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    proc = subprocess.Popen(
        ["bash", "-c", command], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    answered = False
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        text = b"".join(chunks)
        if not answered and re.search(rb"(\]|confirm): $", text):
            os.write(master, typed.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    status = proc.wait(COMMAND_TIMEOUT)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), status


def transcript(block: Block, env: dict[str, str], cwd: Path, port: int) -> list[tuple[str, str]]:
    """Each command of the block and the output it gives now, the pages' port in place of ours."""
    shown = f"127.0.0.1:{SHOWN_PORT}"
    real = f"127.0.0.1:{port}"
    results = []
    status = 0
    for command, _ in block.commands:
        if command.strip() == "echo $?":
            out = f"{status}\n"
        else:
            out, status = run(command.replace(shown, real), env, cwd, block.options)
        out = "\n".join(line.rstrip() for line in out.replace(real, shown).split("\n"))
        results.append((command, _shorten(out, block.options)))
    return results


def _shorten(out: str, options: dict[str, str]) -> str:
    head, tail = int(options.get("head", 0)), int(options.get("tail", 0))
    lines = out.rstrip("\n").split("\n")
    if (head or tail) and len(lines) > head + tail + 1:
        lines = [*lines[:head], "...", *(lines[-tail:] if tail else [])]
    return "\n".join(lines) + "\n" if lines != [""] else ""


# ---------------------------------------------------------------------------------------------
# Comparing, modulo what changes from run to run
# ---------------------------------------------------------------------------------------------

#: What differs between two runs of the same commands on the same data: masked on both sides.
VOLATILE = [
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "TIME"),
    (re.compile(r"(?:/tmp|/var/tmp)/\S+"), "TMPPATH"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:PORT"),
    (re.compile(r'("token": "|token[^:\n]*: |token )[A-Za-z0-9_-]{16,}'), r"\1TOKEN"),
    (re.compile(r"\b\d[\d,]*\.\d+"), "N.N"),
    (re.compile(r"\b\d[\d,]*(?=\s*(?:[mµ]?s|[hd]|keys/s|requests/s|ops/s)\b)"), "N"),
    (re.compile(r"\b\d[\d,]*(?=x\b)"), "N"),
    # A duration near a unit's edge: 980 ms in one run, 1.02 s in the next.
    (re.compile(r"\bN(\.N)? ?[mµ]?s\b"), r"N\1 s"),
    (re.compile(r"^(uptime|clients|ops/s|keyspace hits|keyspace misses)\b.*$", re.M), r"\1 N"),
    (re.compile(r"\b(used|peak) memory\s+\S+ \S+"), r"\1 memory N"),
]
#: Box drawing and blocks: table rules whose length follows the widths.
RULES = re.compile(r"[\s\u2500-\u259f]+")


def words(output: str, mask: str | None = None) -> list[str]:
    for pattern, replacement in VOLATILE:
        output = pattern.sub(replacement, output)
    if mask:
        output = re.sub(mask, "MASKED", output)
    return [w for w in RULES.split(output) if w]


def matches(expected: str, actual: str, unordered: bool = False, mask: str | None = None) -> bool:
    """Whether actual has the words of expected, a line `...` in expected standing for any;
    unordered: the same words in any order (a sample in SCAN order); mask: a regex whose
    matches may differ (the keys of a sample)."""
    if unordered:  # the last of a list has no comma, whichever item comes last

        def bag(text: str) -> list[str]:
            return sorted(w.rstrip(",;") for w in words(text, mask))

        return bag(expected) == bag(actual)
    parts = [words(part, mask) for part in re.split(r"^\.\.\.$", expected, flags=re.M)]
    got = words(actual, mask)
    if len(parts) == 1:
        return parts[0] == got
    first, *middle, last = parts
    if got[: len(first)] != first or (last and got[-len(last) :] != last):
        return False
    rest = got[len(first) : len(got) - len(last)]
    for part in middle:
        starts = range(len(rest) - len(part) + 1)
        at = next((i for i in starts if rest[i : i + len(part)] == part), -1)
        if at < 0:
            return False
        rest = rest[at + len(part) :]
    return True


# ---------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------


def render(results: Sequence[tuple[str, str]]) -> str:
    return "".join(f"$ {command}\n{output}" for command, output in results)


def run_pages(paths: Sequence[Path], check: bool) -> list[str]:
    """Run every transcript of paths; rewrite them, or with check list the differences."""
    from tests.servers import RedisServer, free_port

    port = free_port()
    while len(str(port)) != len(str(SHOWN_PORT)):  # the same width as the port shown
        port = free_port()
    problems = []
    with RedisServer(port=port) as server, tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            page = parse(path)
            if not page.blocks:
                continue
            work = Path(tmp, path.stem)
            work.mkdir()
            for name, content in page.files.items():
                (work / name).write_text(content)
            env = environment(server.url, work)
            new_text, at = [], 0
            for block in page.blocks:
                seed(server.url)
                results = transcript(block, env, work, server.port)
                for (command, expected), (_, actual) in zip(block.commands, results, strict=True):
                    mask = block.options.get("mask")
                    unordered = "unordered" in block.options
                    if check and not matches(expected, actual, unordered, mask):
                        diff = "\n".join(
                            difflib.unified_diff(
                                words(expected, mask),
                                words(actual, mask),
                                "the page",
                                "a run now",
                                lineterm="",
                            )
                        )
                        problems.append(
                            f"{path.relative_to(ROOT)}:{block.line}: $ {command}\n{diff}"
                        )
                new_text += [page.text[at : block.start], render(results)]
                at = block.end
            new_text.append(page.text[at:])
            if not check:
                text = "".join(new_text)
                if text != page.text:
                    path.write_text(text)
                    print(f"rewrote {path.relative_to(ROOT)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages (default: every docs/*.md)")
    parser.add_argument("--check", action="store_true", help="fail where an output differs")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("cli_examples: redis-server is not on PATH", file=sys.stderr)
        return 2
    paths = [p.resolve() for p in args.pages] or PAGES
    problems = run_pages(paths, args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"cli_examples: {len(problems)} transcript(s) differ from a run now: "
            "python scripts/cli_examples.py rewrites them",
            file=sys.stderr,
        )
        return 1
    return 0


def iter_commands(paths: Sequence[Path] = PAGES) -> Iterator[tuple[Path, int, str]]:
    """Every checked command of the pages, with its block's line."""
    for path in paths:
        for block in parse(path).blocks:
            for command, _ in block.commands:
                yield path, block.line, command


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
