"""Cache settings: one frozen dataclass built from a URL and keyword options."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from cachectl.errors import ConfigError
from cachectl.keys import check_namespace

DEFAULT_NAMESPACE = "cachectl"
MEMORY_URL = "memory://"
SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "memory")


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Everything a Cache needs to know; unknown option names are an error."""

    url: str = MEMORY_URL
    namespace: str = DEFAULT_NAMESPACE
    cluster: bool = False
    socket_timeout: float = 0.05
    connect_timeout: float = 0.05
    max_connections: int = 50
    pool_timeout: float = 0.1
    compress_threshold: int = 1024
    compression: str = "lz4"
    max_value_size: int = 8 * 1024 * 1024  # decompressed; why 8 MiB: codec.DEFAULT_MAX_SIZE
    default_ttl: float | None = None
    failure_threshold: int = 3
    recovery_interval: float = 1.0
    fallback_max_entries: int = 10_000
    fallback_max_bytes: int = 64 * 1024 * 1024
    memory_max_entries: int = 1_000_000
    memory_max_bytes: int = 1024 * 1024 * 1024
    pending_max: int = 10_000
    stats: bool = True
    stats_interval: float = 1.0
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_namespace(self.namespace)
        scheme = urlsplit(self.url).scheme
        if scheme not in SCHEMES:
            raise ConfigError(
                f"unsupported URL scheme {scheme!r} in {redact_url(self.url)}: "
                f"use one of {', '.join(s + '://' for s in SCHEMES)}"
            )
        if self.compression not in ("lz4", "zlib"):
            raise ConfigError(f"compression is 'lz4' or 'zlib', not {self.compression!r}")
        for name in (
            "socket_timeout",
            "connect_timeout",
            "pool_timeout",
            "recovery_interval",
            "stats_interval",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        for name in (
            "max_connections",
            "failure_threshold",
            "fallback_max_entries",
            "memory_max_entries",
            "pending_max",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if scheme.endswith("+cluster"):
            object.__setattr__(self, "cluster", True)

    @property
    def is_memory(self) -> bool:
        """Whether this is the embedded in-process store."""
        return urlsplit(self.url).scheme == "memory"

    @property
    def redis_url(self) -> str:
        """The URL as redis-py reads it (the '+cluster' marker removed)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def display_url(self) -> str:
        """The URL with any password replaced, safe for logs and errors."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"CacheConfig(url={self.display_url!r}, namespace={self.namespace!r})"

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def build_config(url: str | None = None, **options: Any) -> CacheConfig:
    """A CacheConfig from a URL and options; unknown option names raise ConfigError."""
    known = {f.name for f in fields(CacheConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown cache option(s): {', '.join(unknown)}")
    if url is None or url == "":
        url = MEMORY_URL
    try:
        return CacheConfig(url=url, **{k: v for k, v in options.items() if v is not None})
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def env_url() -> str | None:
    """The cache URL from the environment (CACHECTL_URL), if set."""
    return os.environ.get("CACHECTL_URL") or None


def redact_url(url: str) -> str:
    """The URL with its password (and any password query parameter) replaced by '***'."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            userinfo = f"{user}:***"
        elif parts.scheme not in ("unix",):
            # redis://secret@host means the password alone
            userinfo = "***"
        netloc = f"{userinfo}@{host}"
    query = (
        "&".join(
            ("password=***" if item.lower().startswith("password=") else item)
            for item in parts.query.split("&")
        )
        if parts.query
        else ""
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


# -- command-line settings --------------------------------------------------------------------

#: Where the command-line tool connects when nothing else is configured.
CLI_DEFAULT_URL = "redis://localhost:6379/0"
#: Seconds the command-line tool waits to connect and for each reply.
CLI_DEFAULT_TIMEOUT = 2.0
#: Keys allowed in [tool.cachectl] of pyproject.toml, or at the top of cachectl.toml.
CLI_SETTINGS = ("namespace", "password_file", "timeout", "url")


def read_cli_settings(
    directory: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Settings from ./cachectl.toml, else [tool.cachectl] of ./pyproject.toml, and the source."""
    import tomllib
    from pathlib import Path

    base = Path(directory) if directory is not None else Path.cwd()
    for name, table in (("cachectl.toml", ()), ("pyproject.toml", ("tool", "cachectl"))):
        path = base / name
        if not path.is_file():
            continue
        try:
            document: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        for part in table:
            document = document.get(part, {}) if isinstance(document, dict) else {}
        if not isinstance(document, dict) or (not document and table):
            continue
        where = f"{path}" + (" [tool.cachectl]" if table else "")
        unknown = sorted(set(document) - set(CLI_SETTINGS))
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)} in {where}: use {', '.join(CLI_SETTINGS)}"
            )
        settings = dict(document)
        if isinstance(settings.get("password_file"), str):
            # Relative to the file that names it, not to wherever the command runs.
            settings["password_file"] = str(path.parent / settings["password_file"])
        return settings, where
    return {}, ""


def read_password_file(path: str) -> str:
    """The password stored in a file (one line; surrounding whitespace is not part of it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read password file {path}: {exc}") from None
    if not password:
        raise ConfigError(f"password file {path} is empty")
    return password


def _setting(value: Any, name: str, kind: type, where: str) -> Any:
    if value is None or isinstance(value, kind) or (kind is float and isinstance(value, int)):
        return value
    raise ConfigError(f"{name} in {where} must be a {kind.__name__}, not {value!r}")


def cli_config(
    url: str | None = None,
    namespace: str | None = None,
    password_file: str | None = None,
    timeout: float | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> CacheConfig:
    """The command-line tool's settings: arguments > environment > settings file > default.

    The URL comes from CACHECTL_URL, else REDIS_URL; the namespace from CACHECTL_NAMESPACE;
    the password, when the URL has none, from a password file (CACHECTL_PASSWORD_FILE) or
    CACHECTL_PASSWORD; the timeout from CACHECTL_TIMEOUT.
    """
    env = os.environ if environ is None else environ
    settings, where = read_cli_settings(directory)
    file_url = _setting(settings.get("url"), "url", str, where)
    file_namespace = _setting(settings.get("namespace"), "namespace", str, where)
    file_password_file = _setting(settings.get("password_file"), "password_file", str, where)
    file_timeout = _setting(settings.get("timeout"), "timeout", float, where)

    url = url or env.get("CACHECTL_URL") or env.get("REDIS_URL") or file_url or CLI_DEFAULT_URL
    if urlsplit(url).scheme == "memory":
        raise ConfigError("the command-line tool needs a Redis URL, not memory://")
    namespace = namespace or env.get("CACHECTL_NAMESPACE") or file_namespace or DEFAULT_NAMESPACE

    password: str | None = None
    if password_file:
        password = read_password_file(password_file)
    elif env.get("CACHECTL_PASSWORD_FILE"):
        password = read_password_file(env["CACHECTL_PASSWORD_FILE"])
    elif env.get("CACHECTL_PASSWORD"):
        password = env["CACHECTL_PASSWORD"]
    elif file_password_file:
        password = read_password_file(file_password_file)

    if timeout is None:
        raw = env.get("CACHECTL_TIMEOUT")
        if raw:
            try:
                timeout = float(raw)
            except ValueError:
                raise ConfigError(f"CACHECTL_TIMEOUT must be seconds, not {raw!r}") from None
        else:
            timeout = file_timeout if file_timeout is not None else CLI_DEFAULT_TIMEOUT
    if not timeout or timeout <= 0:
        raise ConfigError(f"timeout must be positive seconds, not {timeout!r}")
    return build_config(
        url,
        namespace=namespace,
        password=password,
        socket_timeout=float(timeout),
        connect_timeout=float(timeout),
        max_connections=8,
        stats=False,
    )
