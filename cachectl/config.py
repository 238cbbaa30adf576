"""Cache settings: one frozen dataclass built from a URL and keyword options."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from cachectl.backends.registry import is_registered
from cachectl.errors import ConfigError
from cachectl.keys import check_namespace
from cachectl.url import SCHEMES as SCHEMES
from cachectl.url import RedisURL, node_url, parse_url, scheme_of
from cachectl.url import redact_url as redact_url

DEFAULT_NAMESPACE = "cachectl"
MEMORY_URL = "memory://"

#: Settings in seconds: a positive, finite number (an int is fine, a bool is not).
SECONDS = (
    "socket_timeout",
    "connect_timeout",
    "pool_timeout",
    "recovery_interval",
    "stats_interval",
    "close_timeout",
)
#: Whole-number settings and their least value.
COUNTS = {
    "max_connections": 1,
    "compress_threshold": 0,
    "max_value_size": 1,
    "failure_threshold": 1,
    "fallback_max_entries": 1,
    "fallback_max_bytes": 1,
    "memory_max_entries": 1,
    "memory_max_bytes": 1,
    "pending_max": 1,
    "pending_max_bytes": 1,
    "max_key_size": 1,
}


@dataclass(frozen=True, slots=True)
class NearCache:
    """The near cache's settings: Cache(url, near_cache=NearCache(...)), or near_cache=True.

    Values read from Redis are kept in the process, at most max_entries of them and max_bytes
    of their encoded size, coherent through Redis's CLIENT TRACKING (docs/near-cache.md).
    With shared_values, every hit of a key returns the same object, to be treated as read-only;
    without, each hit returns a new one, decoded from the stored bytes.
    """

    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    shared_values: bool = False

    def __post_init__(self) -> None:
        whole(self.max_entries, "NearCache.max_entries", 1)
        whole(self.max_bytes, "NearCache.max_bytes", 1024)
        if not isinstance(self.shared_values, bool):
            raise ConfigError(
                f"NearCache.shared_values must be True or False, not {self.shared_values!r}"
            )


def near_setting(value: object) -> NearCache | None:
    """near_cache as given (True, False, None, a NearCache, or a mapping of its fields, as
    Django's OPTIONS and other settings files give it) as a NearCache, or None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return NearCache()
    if isinstance(value, NearCache):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(NearCache)}
        unknown = sorted(str(name) for name in set(value) - known)
        if unknown:
            raise ConfigError(
                f"unknown near_cache setting(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return NearCache(**value)
    raise ConfigError(
        "near_cache is True, False, a cachectl.NearCache or a mapping of its settings, "
        f"not {value!r}"
    )


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
    pending_max_bytes: int = 4 * 1024 * 1024  # the names owed, see breaker.Pending
    max_key_size: int = 16 * 1024  # bytes of a key, tag, prefix or glob, before the namespace
    close_timeout: float = 3.0  # close() waits this long to replay what Redis is owed
    fallback_counters: bool = False  # incr/decr count in the fallback in an outage (lossy)
    stats: bool = True
    stats_interval: float = 1.0
    #: The near cache (docs/near-cache.md): off (None) unless given; see near_setting.
    near_cache: NearCache | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str):
            raise ConfigError(f"namespace must be a string, not {type(self.namespace).__name__}")
        check_namespace(self.namespace)
        parsed = self.parsed_url
        if self.compression not in ("lz4", "zlib"):
            raise ConfigError(f"compression is 'lz4' or 'zlib', not {self.compression!r}")
        for name in SECONDS:
            object.__setattr__(self, name, seconds(getattr(self, name), name))
        if self.default_ttl is not None:
            object.__setattr__(self, "default_ttl", seconds(self.default_ttl, "default_ttl"))
        for name, least in COUNTS.items():
            whole(getattr(self, name), name, least)
        for name in ("cluster", "stats", "fallback_counters"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.password is not None and not (isinstance(self.password, str) and self.password):
            raise ConfigError("password must be non-empty text, or None for no password")
        object.__setattr__(self, "near_cache", near_setting(self.near_cache))
        if parsed is not None and parsed.cluster:
            object.__setattr__(self, "cluster", True)
        if self.cluster and parsed is not None and parsed.sentinel:
            raise ConfigError(
                f"{self.display_url}: Sentinel serves a single primary, not a cluster"
            )
        if self.cluster and parsed is not None and (parsed.db != 0 or not parsed.host):
            # Also for a plain URL found to point at a cluster node (cluster=True).
            what = "a unix socket" if not parsed.host else f"database {parsed.db}"
            raise ConfigError(f"{self.display_url}: a Redis Cluster cannot use {what}")

    @property
    def is_memory(self) -> bool:
        """Whether this is the embedded in-process store."""
        return scheme_of(self.url) == "memory"

    @property
    def sentinel(self) -> bool:
        """Whether the primary is found by asking Redis Sentinel (redis+sentinel://)."""
        return scheme_of(self.url).endswith("+sentinel")

    @property
    def redis_url(self) -> str:
        """The URL as redis-py reads it (the '+cluster' marker removed). For Sentinel, the data
        nodes' options on the first Sentinel's address: the primary's is Sentinel's answer."""
        if self.sentinel:
            parsed = self.parsed_url
            assert parsed is not None
            return node_url(parsed, self.url)
        return self.url.replace("+cluster://", "://", 1)

    @property
    def parsed_url(self) -> RedisURL | None:
        """Host, port, database and query options as redis-py reads them (None for memory://
        and for the schemes of backends registered by others, which read their own URLs)."""
        scheme = scheme_of(self.url)
        if scheme not in SCHEMES and is_registered(scheme):
            return None
        return parse_url(self.url)

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
        url = MEMORY_URL  # the library's documented default, as for Cache()
    elif not isinstance(url, str):
        raise ConfigError(f"the cache URL is a string, not {type(url).__name__}")
    if "namespace" in options and options["namespace"] is None:
        # Not "not given": Cache(url, namespace=os.environ.get("NS")) with NS unset would
        # otherwise write into the default namespace.
        raise ConfigError("namespace must be a string, not None")
    try:
        return CacheConfig(url=url, **{k: v for k, v in options.items() if v is not None})
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def env_url() -> str | None:
    """The library's cache URL from the environment (CACHECTL_URL), if set and not empty."""
    return os.environ.get("CACHECTL_URL") or None


def env_setting(env: Mapping[str, str], name: str) -> str | None:
    """A CACHECTL_ variable's value, None when unset; set but empty is a ConfigError.

    An empty value is most often an unset shell variable passed on (`CACHECTL_NAMESPACE=$NS`);
    falling back to the default would act on the wrong thing.
    """
    value = env.get(name)
    if value is not None and not value.strip():
        raise ConfigError(f"{name} is set but empty: give it a value or unset it")
    return value


#: The longest duration a setting may hold, about 31 years: a socket timeout of 1e300 passes
#: every finiteness check and then overflows the socket's timer on each call.
MAX_SECONDS = 1e9


def seconds(value: object, name: str) -> float:
    """value as seconds: a positive number up to MAX_SECONDS (not a bool), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise ConfigError(
            f"{name} must be a positive, finite number of seconds (at most {MAX_SECONDS:g}), "
            f"not {value!r}"
        )
    return float(value)


def whole(value: object, name: str, least: int) -> int:
    """value as a whole number of at least least (not a bool), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    if value < least:
        raise ConfigError(f"{name} must be at least {least}, not {value!r}")
    return value


# -- command-line settings --------------------------------------------------------------------

#: Where the command-line tool connects when nothing else is configured.
CLI_DEFAULT_URL = "redis://localhost:6379/0"
#: Seconds the command-line tool waits to connect and for each reply.
CLI_DEFAULT_TIMEOUT = 2.0
#: The longest it waits, whether from --timeout, CACHECTL_TIMEOUT or the settings file (its
#: --help says so: cli.common.MAXIMA).
CLI_MAX_TIMEOUT = 3600
#: The one message for a command-line timeout out of range, wherever it came from.
CLI_TIMEOUT_RANGE = (
    f"must be a positive, finite number of seconds, at most the maximum, {CLI_MAX_TIMEOUT:,}"
)
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
        if isinstance(settings.get("password_file"), str) and settings["password_file"].strip():
            # Relative to the file that names it, not to wherever the command runs.
            settings["password_file"] = str(path.parent / settings["password_file"])
        return settings, where
    return {}, ""


#: Bytes a password file may hold.
MAX_PASSWORD_FILE = 64 * 1024


def read_limited(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of the file at path, at most limit of them, else ConfigError naming it as
    what: a device or a pipe that never ends (/dev/zero) is refused, not read until memory
    runs out. OSError is the caller's to word."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{what} {os.fspath(path)} holds more than {limit:,} bytes")
    return data


def read_password_file(path: str) -> str:
    """The password stored in a file (one line; surrounding whitespace is not part of it)."""
    try:
        password = read_limited(path, MAX_PASSWORD_FILE, "password file").decode().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read password file {path}: {exc}") from None
    if not password:
        raise ConfigError(f"password file {path} is empty")
    return password


def cli_timeout(value: object, name: str) -> float:
    """A command-line timeout (--timeout, CACHECTL_TIMEOUT or the settings file's, named
    name): positive, finite seconds up to CLI_MAX_TIMEOUT, else the one ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and 0 < value <= CLI_MAX_TIMEOUT):
        raise ConfigError(f"{name} {CLI_TIMEOUT_RANGE}, not {value:g}")
    return float(value)


def _setting(value: Any, name: str, kind: type, where: str) -> Any:
    if value is None:
        return None
    if kind is float:
        return cli_timeout(value, f"{name} in {where}")
    if not isinstance(value, kind):
        raise ConfigError(f"{name} in {where} must be a {kind.__name__}, not {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{name} in {where} is empty: give it a value or remove it")
    return value


def _given(value: str | None, option: str) -> str | None:
    """An option's value; an explicitly empty one is an error (an unset shell variable)."""
    if value is not None and not value.strip():
        raise ConfigError(f"{option} is empty: give it a value or leave the option out")
    return value


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
    CACHECTL_PASSWORD; the timeout from CACHECTL_TIMEOUT. An option or a CACHECTL_ variable
    given empty is an error, never a fall back to the default; an empty REDIS_URL (shared
    with other tools) counts as unset.
    """
    env = os.environ if environ is None else environ
    url = _given(url, "--url")
    namespace = _given(namespace, "--namespace")
    password_file = _given(password_file, "--password-file")
    if timeout is not None:
        timeout = cli_timeout(timeout, "--timeout")
    env_values = {
        name: env_setting(env, name)
        for name in (
            "CACHECTL_URL",
            "CACHECTL_NAMESPACE",
            "CACHECTL_PASSWORD_FILE",
            "CACHECTL_PASSWORD",
            "CACHECTL_TIMEOUT",
        )
    }
    settings, where = read_cli_settings(directory)
    file_url = _setting(settings.get("url"), "url", str, where)
    file_namespace = _setting(settings.get("namespace"), "namespace", str, where)
    file_password_file = _setting(settings.get("password_file"), "password_file", str, where)
    file_timeout = _setting(settings.get("timeout"), "timeout", float, where)

    url = (
        url
        or env_values["CACHECTL_URL"]
        or env.get("REDIS_URL", "").strip()
        or file_url
        or CLI_DEFAULT_URL
    )
    if scheme_of(url) == "memory":
        raise ConfigError("the command-line tool needs a Redis URL, not memory://")
    namespace = namespace or env_values["CACHECTL_NAMESPACE"] or file_namespace or DEFAULT_NAMESPACE

    password: str | None = None
    if password_file:
        password = read_password_file(password_file)
    elif env_values["CACHECTL_PASSWORD_FILE"]:
        password = read_password_file(env_values["CACHECTL_PASSWORD_FILE"])
    elif env_values["CACHECTL_PASSWORD"]:
        password = env_values["CACHECTL_PASSWORD"]
    elif file_password_file:
        password = read_password_file(file_password_file)

    if timeout is None:
        raw = env_values["CACHECTL_TIMEOUT"]
        if raw is not None:
            try:
                number = float(raw)
            except ValueError:
                raise ConfigError(
                    f"CACHECTL_TIMEOUT must be a number of seconds, not {raw!r}"
                ) from None
            timeout = cli_timeout(number, "CACHECTL_TIMEOUT")
        else:
            timeout = file_timeout if file_timeout is not None else CLI_DEFAULT_TIMEOUT
    return build_config(
        url,
        namespace=namespace,
        password=password,
        socket_timeout=timeout,
        connect_timeout=timeout,
        max_connections=8,
        stats=False,
    )
