"""Real redis-server processes for the test suite: a single server and a three-primary cluster.

Every process is started on 127.0.0.1 on a free port, in its own temporary directory, with
persistence off. Nothing here ever touches a server it did not start (in particular not one that
may already be listening on 6379). Processes are stopped by fixture finalizers, by an ``atexit``
hook as a backstop, and on Linux by the kernel if the test process dies without cleaning up.

When ``redis-server`` (or ``redis-cli`` for the cluster) is not on PATH, starting a server skips
the requesting test, unless ``CACHECTL_REQUIRE_REDIS`` is set (``.ci/run`` sets it), in which case
it fails, so that CI can never go green by silently skipping every Redis test.

``CACHECTL_REDIS_SERVER`` names another server binary (a newer Redis, Valkey) for every server
started here but the Sentinels, so that the same tests run against each server of the matrix
(``.ci/run``); ``server_name()`` says which one runs.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime
import ipaddress
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import pytest
import redis
import redis.cluster

__all__ = [
    "Certificates",
    "RedisCluster",
    "RedisServer",
    "RedisServerError",
    "SentinelGroup",
    "TlsRedisServer",
    "free_port",
    "require_binary",
    "server_binary",
]

HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLUSTER_TIMEOUT = 30.0
LOG_TAIL_LINES = 30
CLUSTER_NODE_ARGS = (
    *("--cluster-enabled", "yes"),
    *("--cluster-config-file", "nodes.conf"),
    *("--cluster-node-timeout", "2000"),
)


class RedisServerError(RuntimeError):
    """A test redis-server (or cluster) failed to start or to form."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    """Return the path of ``name`` on PATH; skip the test (fail under CI's guard) if missing."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not on PATH; install Redis (apt-get install redis-server redis-tools)"
        if os.environ.get("CACHECTL_REQUIRE_REDIS"):
            pytest.fail(f"{reason}; CACHECTL_REQUIRE_REDIS is set", pytrace=False)
        pytest.skip(reason)
    return path


def server_binary() -> str:
    """The redis-server to run: CACHECTL_REDIS_SERVER when set (it must exist), else PATH's."""
    chosen = os.environ.get("CACHECTL_REDIS_SERVER")
    if not chosen:
        return require_binary("redis-server")
    if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
        pytest.fail(f"CACHECTL_REDIS_SERVER={chosen} is not an executable file", pytrace=False)
    return chosen


def server_name() -> str:
    """What the server binary says it is: 'redis 7.0.15', 'valkey 8.1.8'."""
    out = subprocess.run(
        [server_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    # "Redis server v=7.0.15 ..." / "Valkey server v=8.1.8 ..."
    words = out.split()
    version = next((w[2:] for w in words if w.startswith("v=")), "?")
    return f"{words[0].lower() if words else '?'} {version}"


# ---------------------------------------------------------------------------------------------
# Process bookkeeping
# ---------------------------------------------------------------------------------------------

_live: dict[int, RedisServer] = {}
_atexit_registered = False


def _track(server: RedisServer) -> None:
    # Registered lazily, so that importing this module has no side effect.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_all)
        _atexit_registered = True
    _live[id(server)] = server


def _untrack(server: RedisServer) -> None:
    _live.pop(id(server), None)


def _stop_all() -> None:
    for server in list(_live.values()):
        with contextlib.suppress(Exception):
            server.stop()


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to SIGKILL the child when the test process dies (Linux)."""
    # Covers a SIGKILL-ed or crashed pytest that never reaches atexit. libc is looked up here, in
    # the parent, so that the child does no dynamic loading between fork and exec. The kernel ties
    # the signal to the forking *thread*, so a server started from a worker thread would die with
    # that thread: only the main thread gets the hook.
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


# ---------------------------------------------------------------------------------------------
# A single server
# ---------------------------------------------------------------------------------------------


class RedisServer:
    """One redis-server on 127.0.0.1, on a free port, in a temporary directory."""

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        unix_socket: bool = False,
        port: int | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self.unix_socket = unix_socket
        self.start_timeout = start_timeout
        self._fixed_port = port is not None
        self._port = port if port is not None else 0
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- addresses ----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return HOST

    @property
    def port(self) -> int:
        """The TCP port; fixed at the first start() and kept across restart()."""
        if not self._port:
            raise RedisServerError("the server has no port until start() is called")
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def unix_path(self) -> str | None:
        """Path of the unix socket, if the server was created with ``unix_socket=True``."""
        if not self.unix_socket:
            return None
        return str(self._workdir() / "redis.sock")

    @property
    def unix_url(self) -> str | None:
        """``unix:///path/redis.sock?db=0``, if the server has a unix socket."""
        path = self.unix_path
        return None if path is None else f"unix://{path}?db=0"

    @property
    def password(self) -> str | None:
        """The ``--requirepass`` value among the extra args, if any."""
        args = self.extra_args
        for i, arg in enumerate(args[:-1]):
            if arg == "--requirepass":
                return args[i + 1]
        return None

    @property
    def pid(self) -> int:
        """The redis-server process id (of the current incarnation)."""
        if self._proc is None:
            raise RedisServerError("the server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        """Where redis-server's stdout/stderr go."""
        return self._workdir() / "redis.log"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING; return self."""
        if self.running:
            return self
        binary = self._binary()
        # A kernel-chosen port can be taken by someone else before redis binds it; retry with a
        # fresh one unless the caller (or restart) pinned the port.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            if not self._fixed_port and (attempt or not self._port):
                self._port = free_port()
            try:
                self._spawn(binary)
                self._wait_ready()
                return self
            except RedisServerError as exc:
                in_use = "Address already in use" in str(exc)
                self._kill()
                if not in_use or attempt == attempts - 1:
                    # The error carries the log tail, so nothing is lost with the directory.
                    self.stop()
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory; idempotent."""
        self._kill()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self) -> Self:
        """Stop and start again on the same port (and unix socket path); data is not kept."""
        self._kill()
        self._fixed_port = True
        return self.start()

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing answers (a hung server)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self._signal(signal.SIGCONT)

    def client(self, **kwargs: Any) -> redis.Redis:
        """A ``redis.Redis`` to this server with short timeouts; ``kwargs`` override. Close it."""
        options: dict[str, Any] = {
            "host": HOST,
            "port": self.port,
            "password": self.password,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
        }
        options.update(kwargs)
        return redis.Redis(**options)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {HOST}:{self._port or '?'} {state}>"

    # -- internals ----------------------------------------------------------------------------

    def _binary(self) -> str:
        return server_binary()

    def _workdir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="cachectl-redis-"))
        return self._dir

    def _command(self, binary: str) -> list[str]:
        command = [
            binary,
            "--bind", HOST,
            "--port", str(self._port),
            "--dir", str(self._workdir()),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        if self.unix_path is not None:
            command += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        return command + list(self.extra_args)

    def _spawn(self, binary: str) -> None:
        command = self._command(binary)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                cwd=self._workdir(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent_hook(),
            )
        _track(self)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        with self.client(socket_timeout=0.5, socket_connect_timeout=0.5, retry=None) as probe:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise self._start_error(f"exited with status {self._proc.returncode}")
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    try:
                        if probe.ping():
                            return
                    except redis.ResponseError:
                        # NOAUTH and friends: the server is up, just picky about who asks.
                        return
                if time.monotonic() > deadline:
                    raise self._start_error(f"did not answer PING within {self.start_timeout}s")
                time.sleep(0.02)

    def _start_error(self, what: str) -> RedisServerError:
        return RedisServerError(
            f"redis-server on {HOST}:{self._port} {what}\n"
            f"command: {shlex.join(self._command('redis-server'))}\n"
            f"--- log tail ---\n{self.log_tail()}"
        )

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running:
            raise RedisServerError(f"cannot send {signum.name}: the server is not running")
        assert self._proc is not None
        self._proc.send_signal(signum)

    def _kill(self) -> None:
        # Forgotten only once it is dead, so that an interrupted stop is finished by atexit.
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            # A stopped process keeps SIGTERM pending until it is continued.
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self._proc = None
        _untrack(self)


# ---------------------------------------------------------------------------------------------
# TLS: certificates made here, and a server that speaks only TLS
# ---------------------------------------------------------------------------------------------


class Certificates:
    """PEM files in ``directory``: a CA; signed by it, a server certificate for localhost,
    127.0.0.1 and ::1, one for another host only ('elsewhere'), and a client certificate; and
    a second CA ('other-ca') that signed only a client certificate ('stranger')."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.directory = directory
        now = datetime.datetime.now(datetime.UTC)

        def name(common: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

        def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
            (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            (directory / f"{stem}.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

        def issue(
            subject: str,
            key: ec.EllipticCurvePrivateKey,
            issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
            usage: x509.ObjectIdentifier | None = None,
        ) -> x509.Certificate:
            builder = (
                x509.CertificateBuilder()
                .subject_name(name(subject))
                .issuer_name(issuer[0] if issuer else name(subject))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
            )
            if usage is not None:
                # A server is a client too: of its replicas' and cluster peers' links.
                usages = [usage, ExtendedKeyUsageOID.CLIENT_AUTH]
                builder = builder.add_extension(x509.ExtendedKeyUsage(list(set(usages))), False)
                if usage == ExtendedKeyUsageOID.SERVER_AUTH:
                    names: list[x509.GeneralName] = (
                        [x509.DNSName("cache.elsewhere.example")]
                        if subject.endswith("elsewhere")
                        else [
                            x509.DNSName("localhost"),
                            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                            x509.IPAddress(ipaddress.ip_address("::1")),
                        ]
                    )
                    builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
            return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = issue("cachectl test CA", ca_key, None)
        write("ca", ca, ca_key)
        for stem, usage in (
            ("server", ExtendedKeyUsageOID.SERVER_AUTH),
            ("elsewhere", ExtendedKeyUsageOID.SERVER_AUTH),
            ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            write(stem, issue(f"cachectl test {stem}", key, (ca.subject, ca_key), usage), key)
        other_key = ec.generate_private_key(ec.SECP256R1())
        other = issue("another CA", other_key, None)
        write("other-ca", other, other_key)
        stranger_key = ec.generate_private_key(ec.SECP256R1())
        stranger = issue(
            "a stranger", stranger_key, (other.subject, other_key), ExtendedKeyUsageOID.CLIENT_AUTH
        )
        write("stranger", stranger, stranger_key)

    def path(self, stem: str) -> str:
        """The PEM file of a certificate ('ca', 'server', 'client', 'other-ca') or key ('.key')."""
        return str(self.directory / (stem if "." in stem else f"{stem}.crt"))

    def query(self, *, client_cert: bool = True, ca: str = "ca", client: str = "client") -> str:
        """The ssl_ query options of a rediss:// URL trusting ``ca``, with a client cert."""
        options = {"ssl_ca_certs": self.path(ca)}
        if client_cert:
            options |= {
                "ssl_certfile": self.path(client),
                "ssl_keyfile": self.path(f"{client}.key"),
            }
        return "&".join(f"{k}={quote(v, safe='/')}" for k, v in options.items())

    def server_args(self, auth_clients: str = "yes", server: str = "server") -> list[str]:
        """redis-server's TLS options (clients must show a certificate unless auth_clients)."""
        return [
            *("--tls-cert-file", self.path(server)),
            *("--tls-key-file", self.path(f"{server}.key")),
            *("--tls-ca-cert-file", self.path("ca")),
            *("--tls-auth-clients", auth_clients),
        ]

    def client_options(self) -> dict[str, Any]:
        """redis-py's keyword options for a client of the test servers."""
        return {
            "ssl": True,
            "ssl_ca_certs": self.path("ca"),
            "ssl_certfile": self.path("client"),
            "ssl_keyfile": self.path("client.key"),
            "ssl_check_hostname": False,
        }


class TlsRedisServer(RedisServer):
    """A redis-server that listens only with TLS (``--port 0 --tls-port P``)."""

    def __init__(
        self,
        certs: Certificates,
        extra_args: Sequence[str] = (),
        *,
        auth_clients: str = "yes",
        server: str = "server",
    ) -> None:
        super().__init__([*certs.server_args(auth_clients, server), *extra_args])
        self.certs = certs

    @property
    def url(self) -> str:
        """``rediss://localhost:PORT/0?ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...``."""
        return f"rediss://localhost:{self.port}/0?{self.certs.query()}"

    def client(self, **kwargs: Any) -> redis.Redis:
        return super().client(**{**self.certs.client_options(), **kwargs})

    def start(self) -> Self:
        """Start as RedisServer does; skip the test on a server built without TLS."""
        try:
            return super().start()
        except RedisServerError as exc:
            # A build without TLS takes --tls-port and then has no port to listen on.
            if "not listen anywhere" in str(exc) or "Failed finding TLS support" in str(exc):
                pytest.skip(f"{server_name()} was built without TLS")
            raise

    def _command(self, binary: str) -> list[str]:
        command = super()._command(binary)
        at = command.index("--port")
        command[at : at + 2] = ["--port", "0", "--tls-port", str(self._port)]
        return command


# ---------------------------------------------------------------------------------------------
# A three-primary cluster
# ---------------------------------------------------------------------------------------------


class RedisCluster:
    """Three redis-server primaries joined by ``redis-cli --cluster create``, no replicas."""

    def __init__(
        self, size: int = 3, *, timeout: float = CLUSTER_TIMEOUT, tls: Certificates | None = None
    ) -> None:
        self.size = size
        self.timeout = timeout
        self.tls = tls
        self.nodes: list[RedisServer] = []

    @property
    def ports(self) -> list[int]:
        """The nodes' client ports, first node first."""
        return [node.port for node in self.nodes]

    @property
    def urls(self) -> list[str]:
        """``redis://127.0.0.1:PORT/0`` of every node."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:P1/0`` of the first node."""
        if not self.nodes:
            raise RedisServerError("the cluster is not running")
        return self.nodes[0].url

    def start(self) -> Self:
        """Start the nodes, create the cluster and wait until every node reports it healthy."""
        if self.nodes:
            return self
        cli = require_binary("redis-cli")
        server_binary()
        try:
            for _ in range(self.size):
                # The bus port is set explicitly: the default (port + 10000) can be above 65535
                # for a kernel-chosen port, or already taken.
                args = [*CLUSTER_NODE_ARGS, "--cluster-port", str(free_port())]
                node = (
                    RedisServer(args)
                    if self.tls is None
                    else TlsRedisServer(
                        self.tls, [*args, "--tls-cluster", "yes", "--tls-replication", "yes"]
                    )
                )
                self.nodes.append(node)
                node.start()
            self._create(cli)
            self._wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node; idempotent."""
        nodes, self.nodes = self.nodes, []
        for node in nodes:
            node.stop()

    def flush(self) -> None:
        """FLUSHALL on each of this cluster's own nodes."""
        for node in self.nodes:
            with node.client() as client:
                client.flushall()

    def client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """A ``redis.cluster.RedisCluster`` seeded with the first node; ``kwargs`` override."""
        options: dict[str, Any] = {
            "host": HOST,
            "port": self.ports[0],
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
        }
        if self.tls is not None:
            options.update(self.tls.client_options())
        options.update(kwargs)
        return redis.cluster.RedisCluster(**options)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisCluster ports={[n.port for n in self.nodes if n.running]}>"

    def _create(self, cli: str) -> None:
        addresses = [f"{HOST}:{port}" for port in self.ports]
        command = [cli, "--cluster", "create", *addresses]
        if self.tls is not None:
            command += ["--tls", "--cacert", self.tls.path("ca")]
            command += ["--cert", self.tls.path("client"), "--key", self.tls.path("client.key")]
        command += ["--cluster-replicas", "0", "--cluster-yes"]
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise self._error(f"{shlex.join(command)} timed out", str(exc.output or "")) from exc
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise self._error(f"{shlex.join(command)} exited {result.returncode}", output)

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + self.timeout
        pending = list(self.nodes)
        while pending:
            node = pending[0]
            with node.client() as client:
                info = _parse_info(client.execute_command("CLUSTER INFO"))
            healthy = (
                info.get("cluster_state") == "ok"
                and info.get("cluster_slots_assigned") == str(CLUSTER_SLOTS)
                and info.get("cluster_slots_ok") == str(CLUSTER_SLOTS)
                and info.get("cluster_known_nodes") == str(self.size)
            )
            if healthy:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise self._error(
                    f"node {node.port} not healthy after {self.timeout}s",
                    "\n".join(f"{k}:{v}" for k, v in info.items()),
                )
            time.sleep(0.05)

    def _error(self, what: str, output: str) -> RedisServerError:
        tails = "\n".join(f"--- node {n.port} log tail ---\n{n.log_tail(10)}" for n in self.nodes)
        return RedisServerError(f"redis cluster: {what}\n{output.strip()}\n{tails}")


# ---------------------------------------------------------------------------------------------
# Sentinel: one primary, one replica, three Sentinels
# ---------------------------------------------------------------------------------------------

SERVICE = "mymaster"
#: Low, so that a failover takes about a second (the defaults take 30 s and more).
DOWN_AFTER_MS = 400
FAILOVER_TIMEOUT_MS = 2000


class RedisSentinel(RedisServer):
    """One redis-sentinel (Debian's: the matrix's servers need not ship one) watching a primary."""

    def __init__(
        self,
        primary_port: int,
        *,
        password: str | None = None,
        auth_pass: str | None = None,
        known: Sequence[str] = (),
        tls: Certificates | None = None,
    ) -> None:
        super().__init__(port=free_port())
        self.tls = tls
        self.myid = os.urandom(20).hex()
        self.known: tuple[str, ...] = tuple(known)
        self.primary_port = primary_port
        self.sentinel_password = password
        self.auth_pass = auth_pass

    @property
    def password(self) -> str | None:
        return self.sentinel_password

    def _binary(self) -> str:
        return require_binary("redis-sentinel")

    def client(self, **kwargs: Any) -> redis.Redis:
        tls = self.tls.client_options() if self.tls is not None else {}
        return super().client(**{**tls, **kwargs})

    def _command(self, binary: str) -> list[str]:
        # Sentinel rewrites its configuration file, so it gets one of its own.
        tls = self.tls
        lines = [
            f"bind {HOST}",
            f"port {self._port}" if tls is None else f"port 0\ntls-port {self._port}",
            f"dir {self._workdir()}",
            "protected-mode no",
            f"sentinel monitor {SERVICE} {HOST} {self.primary_port} 2",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
        ]
        if self.auth_pass:
            lines.append(f"sentinel auth-pass {SERVICE} {self.auth_pass}")
        # Told of each other and of the replica up front: found by their hello messages, they
        # take seconds to be known.
        lines += [f"sentinel myid {self.myid}", *self.known]
        if self.sentinel_password:
            lines.append(f"requirepass {self.sentinel_password}")
        if tls is not None:
            # TLS to clients, to the data nodes and to the other Sentinels alike.
            lines += [
                f"tls-cert-file {tls.path('server')}",
                f"tls-key-file {tls.path('server.key')}",
                f"tls-ca-cert-file {tls.path('ca')}",
                "tls-replication yes",
            ]
        config = self._workdir() / "sentinel.conf"
        if not config.exists():
            config.write_text("\n".join(lines) + "\n")
        return [binary, str(config)]


class SentinelGroup:
    """A primary, a replica and three Sentinels on 127.0.0.1, service SERVICE.

    ``password`` protects the data nodes (the replica and the Sentinels are given it);
    ``sentinel_password`` the Sentinels themselves.
    """

    def __init__(
        self,
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
        sentinels: int = 3,
        timeout: float = CLUSTER_TIMEOUT,
        tls: Certificates | None = None,
    ) -> None:
        self.tls = tls
        self.password = password
        self.sentinel_password = sentinel_password
        self.size = sentinels
        self.timeout = timeout
        self.nodes: list[RedisServer] = []
        self.sentinels: list[RedisSentinel] = []

    @property
    def url(self) -> str:
        """``redis+sentinel://[:pw@]127.0.0.1:S1,...,127.0.0.1:S3/mymaster/0[?sentinel_password=]``."""
        userinfo = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        options = [f"sentinel_password={self.sentinel_password}"] if self.sentinel_password else []
        if self.tls is not None:
            options.append(self.tls.query())
        query = f"?{'&'.join(options)}" if options else ""
        scheme = "rediss+sentinel" if self.tls is not None else "redis+sentinel"
        return f"{scheme}://{userinfo}{hosts}/{SERVICE}/0{query}"

    def start(self) -> Self:
        """Start the primary, its replica (in sync) and the Sentinels (each aware of all)."""
        if self.nodes:
            return self
        args = (
            ["--requirepass", self.password, "--masterauth", self.password] if self.password else []
        )
        # A full sync starts at once, not after the default 5 s wait for more replicas.
        args += ["--repl-diskless-sync-delay", "0"]
        try:
            primary = self._node(args)
            self.nodes.append(primary)
            primary.start()
            replica = self._node([*args, "--replicaof", HOST, str(primary.port)])
            self.nodes.append(replica)
            replica.start()
            self._wait(
                lambda: self._info(replica).get("master_link_status") == "up", "replica sync"
            )
            self.sentinels = [
                RedisSentinel(
                    primary.port,
                    password=self.sentinel_password,
                    auth_pass=self.password,
                    tls=self.tls,
                )
                for _ in range(self.size)
            ]
            for sentinel in self.sentinels:
                sentinel.known = (
                    f"sentinel known-replica {SERVICE} {HOST} {replica.port}",
                    *(
                        f"sentinel known-sentinel {SERVICE} {HOST} {other.port} {other.myid}"
                        for other in self.sentinels
                        if other is not sentinel
                    ),
                )
                sentinel.start()
            self._wait(self._sentinels_ready, "Sentinels to find each other and the replica")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every Sentinel and node; idempotent."""
        for server in [*self.sentinels, *self.nodes]:
            server.stop()
        self.sentinels, self.nodes = [], []

    def primary_port(self) -> int:
        """The primary's port as the first answering Sentinel says."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            with contextlib.suppress(redis.RedisError), sentinel.client() as client:
                _host, port = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)
                return int(port)
        raise RedisServerError("no Sentinel answers")

    def node_url(self, port: int) -> str:
        """A plain URL straight to this group's data node on port (TLS and password kept)."""
        userinfo = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{userinfo}{HOST}:{port}/0"
        return f"rediss://{userinfo}{HOST}:{port}/0?{self.tls.query()}"

    def node(self, port: int) -> RedisServer:
        """This group's data node on port."""
        return next(n for n in self.nodes if n.port == port)

    def role(self, node: RedisServer) -> str:
        """'master' or 'slave' as the node's INFO says ('' when it does not answer)."""
        try:
            return self._info(node).get("role", "")
        except redis.RedisError:
            return ""

    def kill(self, node: RedisServer) -> None:
        """SIGKILL a node, as a crash would; it stays down."""
        assert node._proc is not None
        node._proc.kill()
        node._proc.wait(STOP_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _node(self, args: list[str]) -> RedisServer:
        if self.tls is None:
            return RedisServer(args)
        return TlsRedisServer(self.tls, [*args, "--tls-replication", "yes"])

    def _info(self, node: RedisServer) -> dict[str, str]:
        with node.client(socket_timeout=1.0, socket_connect_timeout=1.0) as client:
            return _parse_info(client.execute_command("INFO", "replication"))

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                state = client.sentinel_master(SERVICE)
            if int(state["num-other-sentinels"]) != self.size - 1 or int(state["num-slaves"]) < 1:
                return False
        return True

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not ready():
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {s.port} ---\n{s.log_tail(10)}" for s in self.sentinels)
                raise RedisServerError(f"sentinel group: no {what} after {self.timeout}s\n{tails}")
            time.sleep(0.05)


def _parse_info(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}
