"""CLIENT TRACKING for a near cache: one thread, one RESP3 connection per primary.

Each connection asks `CLIENT TRACKING ON BCAST PREFIX <namespace>:` and receives, as RESP3
pushes, the name of every key of the namespace written, deleted or expired, which the thread
drops from the near cache (cache.near) as they arrive, whatever the application is doing.
Why each choice, with the figures of bench/bench_near.py in docs/near-cache.md:

- BCAST rather than the default mode: the server keeps no table of the keys each process
  read (the default mode's costs memory per key and per process: valkey #4143), data
  connections stay untouched (no REDIRECT to arm on every pooled connection, on each face and
  each cluster node), and a key is covered wherever it lives, so a slot moving between two
  primaries needs nothing. The price is one message per write of the namespace to every
  process, read or not: the near cache is for keys read far more often than written.
- RESP3 on the tracking connection itself rather than RESP2 and a second, REDIRECTed one:
  one connection per primary, and no window where the redirecting connection is gone and the
  subscribed one never hears of it (redis #11767).
- A thread for both faces, helped by the readers: an asyncio task is run only when the event
  loop gets to it, so a busy loop would delay invalidations without bound; a thread waits on
  its sockets with the GIL released. A woken thread may still wait for a CPU on a busy
  machine, so readers also take what has come, every POLL_NS of hits and before keeping a
  reply (Tracker.poll): staleness then depends on no thread being scheduled.

Anything that may have cost an invalidation flushes the near cache and stops it serving until
tracking is established again: a connection closed or reset (CLIENT KILL, a restart), a
heartbeat unanswered within GRACE (a hung server, a cut network), FLUSHALL/FLUSHDB (a push
naming no key), a changed role (a failover that demoted the server), a cluster whose slots
moved, and the breaker opening (cache.recovery). A server that refuses tracking (an ACL
without CLIENT, a server older than 6, a proxy without RESP3) turns the near cache off with
one warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import hiredis
import redis
import redis.exceptions

from cachectl import forksafe
from cachectl.backends.redis.clients import sync_client
from cachectl.config import CacheConfig

if TYPE_CHECKING:
    from cachectl.cache.near import Near

log = logging.getLogger("cachectl")

#: Seconds between heartbeats (a PING, or ROLE; and CLUSTER SLOTS on a cluster).
BEAT = 0.1
#: Seconds past which an unanswered heartbeat means the connection is lost (at least; longer
#: with a longer socket_timeout).
GRACE = 0.25
#: Longest wait between two attempts to establish tracking.
MAX_BACKOFF = 1.0
#: Seconds a reader's poll waits for the thread to be done reading, at most.
POLL_WAIT = 0.01
#: Seconds the thread leaves what has come to the readers before it takes it itself (more
#: than two of the near cache's POLL_NS).
HANDOFF = 0.0012
#: The name the tracking connections give themselves (CLIENT LIST shows it).
CLIENT_NAME = "cachectl-near"


class Refused(Exception):
    """The server refuses tracking: an ACL, an old server, a proxy."""


class Lost(Exception):
    """A tracking connection is gone, or can no longer be trusted."""


def _command(*parts: bytes | str) -> bytes:
    packed: bytes = hiredis.pack_command(parts)  # type: ignore[arg-type]
    return packed


PING = _command("PING")
ROLE = _command("ROLE")
SLOTS = _command("CLUSTER", "SLOTS")
MYID = _command("CLUSTER", "MYID")


class Link:
    """One tracking connection, to one server."""

    def __init__(self, connection: Any, name: str) -> None:
        self.connection = connection
        self.sock: socket.socket = connection._sock
        self.reader = hiredis.Reader()
        self.name = name
        self.role: bytes = connection.handshake_metadata.get(b"role", b"")
        self.node_id = b""
        #: What each reply on its way answers, in order, and when the oldest was asked.
        self.expected: deque[tuple[str, float]] = deque()
        self.role_refused = False

    def ask(self, command: bytes, kind: str, now: float) -> None:
        """Send a heartbeat. It needs no lock against a reader's _take: the question is on
        record before the answer can come, and a deque's append and popleft are atomic."""
        self.expected.append((kind, now))
        try:
            self.sock.sendall(command)
        except OSError as exc:  # BlockingIOError too: a heartbeat that does not fit is lost
            raise Lost(f"{self.name}: {exc}") from None

    def oldest(self) -> float | None:
        """When the oldest question still unanswered was asked."""
        try:
            return self.expected[0][1]
        except IndexError:  # answered meanwhile
            return None

    def call(self, command: bytes, timeout: float) -> Any:
        """Send a command and wait for its reply, while tracking is set up. Invalidations that
        come meanwhile are of nothing: the near cache keeps nothing until it is established."""
        self.sock.sendall(command)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.reader.gets()
            if reply is False:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Lost(f"{self.name} did not answer within {timeout:g} s")
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    raise Lost(f"{self.name} closed the connection")
                self.reader.feed(data)
                continue
            if not isinstance(reply, hiredis.PushNotification):
                return reply

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.disconnect()


class Tracker:
    """Keeps one near cache coherent: see the module docstring."""

    def __init__(self, config: CacheConfig, near: Near) -> None:
        self.config = config
        self.near = near
        self.prefix = config.namespace.encode() + b":"
        self.grace = max(GRACE, 4 * config.socket_timeout)
        self._client: Any = None
        self._slots: list[tuple[int, int, bytes]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        self._fresh()
        near.tracker = self
        forksafe.register(self)

    def _fresh(self) -> None:
        self._starting = threading.Lock()
        #: Held while a connection is read: by the thread, or by a reader helping (poll).
        self._reading = threading.Lock()
        self._broken = ""
        #: Messages taken off the connections and not applied yet: (link, question, message),
        #: the question '' for a push.
        self._inbox: deque[tuple[Link, str, Any]] = deque()
        self._renew = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._links: list[Link] = []

    def after_fork(self) -> None:
        """In a forked child: the parent's connections and thread are not ours; tracking starts
        again on the child's first read."""
        forksafe.keep(self._links, self._wake_r, self._wake_w, self._client)
        self._client = None
        self._thread = None
        self._fresh()

    # -- what the near cache asks -------------------------------------------------------------

    def ensure(self) -> None:
        """Start the thread if it is not running in this process."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        with self._starting:
            thread = self._thread
            if self._closed or (thread is not None and thread.is_alive()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="cachectl-near", daemon=True)
            self._thread.start()

    def renew(self) -> None:
        """Drop the connections and establish tracking again (the breaker opened)."""
        self._renew.set()
        self._wake()

    def close(self) -> None:
        """Stop for good, and wait briefly for the thread."""
        self._closed = True
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.config.socket_timeout * 4 + 0.5)
        if thread is None or not thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def poll(self) -> bool:
        """Apply what has come on the tracking connections now, from a reader's thread;
        whether everything that had come is applied (False: the connections are being read
        by a thread that is slow to be done; whoever asked must then not trust the near cache
        for now: a hit goes to Redis, a reply is not kept).

        The near cache asks this every POLL_NS of its hits, and before it keeps what a read
        found, so that an invalidation waits neither for the tracking thread to be scheduled
        nor for the GIL: on a busy machine a woken thread can wait tens of milliseconds for a
        CPU, while the reader is on one already. Messages are taken off the connections under
        _reading and applied by whoever finds them in the inbox; a thread taken off the CPU
        while it holds _reading makes the others miss, never serve stale values. A lost
        connection found here flushes at once.
        """
        if not self.near.serving:
            return True
        links = self._links
        taken = False
        try:
            if self._reading.acquire(timeout=POLL_WAIT):
                try:
                    for link in links:
                        self._take(link)
                finally:
                    self._reading.release()
                taken = True
            self._apply()
        except (Lost, OSError, hiredis.ProtocolError) as exc:
            if links is self._links:  # not connections the thread has replaced meanwhile
                self._broken = str(exc) or type(exc).__name__
                self.near.lost(renew=False)
                self._wake()
        return taken

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        near, backoff = self.near, 0.0
        try:
            while not self._closed:
                self._renew.clear()
                try:
                    self._links = self._connect()
                except Refused as exc:
                    near.refused(f"{self.config.display_url} refuses tracking ({exc})")
                    return
                except Exception as exc:
                    log.debug("cachectl: near cache: tracking not established: %s", exc)
                    self._drop_links()
                    backoff = min(MAX_BACKOFF, self.config.recovery_interval, backoff * 2 or 0.01)
                    self._pause(backoff)
                    continue
                backoff = 0.0
                for link in self._links:
                    link.sock.setblocking(False)  # read by poll too, which must never wait
                self._broken = ""
                near.established()
                try:
                    self._listen()
                except Exception as exc:
                    log.info("cachectl: near cache flushed: %s", exc)
                finally:
                    near.lost(renew=False)
                    self._drop_links()
        finally:
            near.lost(renew=False)
            self._drop_links()

    def _pause(self, seconds: float) -> None:
        """Wait seconds, or less when woken (closed, renewed)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r.fileno(), selectors.EVENT_READ)
            selector.select(seconds)
        self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _drop_links(self) -> None:
        self._inbox.clear()
        links, self._links = self._links, []
        for link in links:
            link.close()

    # -- establishing tracking ----------------------------------------------------------------

    def _connect(self) -> list[Link]:
        """One tracking connection per primary, each with BCAST tracking of the namespace."""
        if self._client is None:
            self._client = sync_client(self.config)
        client = self._client
        if not self.config.cluster:
            return [self._link(client.connection_pool, self.config.display_url)]
        client.nodes_manager.initialize()
        links = []
        try:
            for node in client.get_primaries():
                pool = node.redis_connection.connection_pool
                link = self._link(pool, node.name)
                links.append(link)
                link.node_id = self._reply(link.call(MYID, self._timeout()))
            self._slots = self._slot_map(links[0].call(SLOTS, self._timeout()))
            owners = {owner for _, _, owner in self._slots}
            if owners != {link.node_id for link in links}:
                raise Lost("the cluster's primaries changed while tracking was set up")
        except BaseException:
            for link in links:
                link.close()
            raise
        return links

    def _timeout(self) -> float:
        return self.config.connect_timeout + self.config.socket_timeout

    def _link(self, pool: Any, name: str) -> Link:
        # The data connections' options, but RESP3, a timeout for setting up, and the
        # handshake alone (the name is asked below, where a refusal costs nothing).
        kwargs = {
            **pool.connection_kwargs,
            "protocol": 3,
            "client_name": None,
            "redis_connect_func": None,
            "socket_timeout": self._timeout(),
        }
        connection = pool.connection_class(**kwargs)
        try:
            connection.connect()
        except redis.exceptions.AuthenticationError:
            raise  # the data path fails alike and says why; tried again later
        except redis.exceptions.ResponseError as exc:
            raise Refused(f"HELLO 3: {exc}") from None
        if str(connection.protocol) != "3":
            connection.disconnect()
            raise Refused("no RESP3")
        link = Link(connection, name)
        try:
            reply = link.call(
                _command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self.prefix),
                self._timeout(),
            )
            if isinstance(reply, hiredis.ReplyError):
                raise Refused(f"CLIENT TRACKING: {reply}")
            # Named for CLIENT LIST where the ACL allows it (data connections: clients.Naming).
            link.call(_command("CLIENT", "SETNAME", CLIENT_NAME), self._timeout())
        except BaseException:
            link.close()
            raise
        return link

    @staticmethod
    def _reply(reply: Any) -> Any:
        if isinstance(reply, hiredis.ReplyError):
            raise Lost(str(reply))
        return reply

    @staticmethod
    def _slot_map(reply: Any) -> list[tuple[int, int, bytes]]:
        """CLUSTER SLOTS as (first slot, last slot, primary's node id), in slot order."""
        if isinstance(reply, hiredis.ReplyError) or not isinstance(reply, list):
            raise Lost(f"CLUSTER SLOTS answered {reply!r:.100}")
        ranges = []
        for item in reply:
            try:
                first, last, primary = int(item[0]), int(item[1]), item[2]
                ranges.append((first, last, bytes(primary[2])))
            except (TypeError, ValueError, IndexError) as exc:
                raise Lost(f"CLUSTER SLOTS answered {item!r:.100}") from exc
        return sorted(ranges)

    # -- listening ----------------------------------------------------------------------------

    def _listen(self) -> None:
        """Apply invalidations as they come, and beat; returns when renewed or closed, raises
        Lost when a connection is."""
        links = {link.sock.fileno(): link for link in self._links}
        turn = 0
        with selectors.DefaultSelector() as selector:
            for fd in links:
                selector.register(fd, selectors.EVENT_READ)
            selector.register(self._wake_r.fileno(), selectors.EVENT_READ)
            next_beat = time.monotonic() + BEAT
            while True:
                events = selector.select(max(0.0, next_beat - time.monotonic()))
                if any(key.fd in links for key, _ in events):
                    # Readers that are hitting take it within POLL_NS: let them, so that this
                    # thread, which the OS may take off the CPU while it holds _reading,
                    # seldom holds what they need. Else it is taken here.
                    time.sleep(HANDOFF)
                for key, _ in events:
                    ready = links.get(key.fd)
                    if ready is None:
                        self._drain_wake()
                    else:
                        with self._reading:
                            self._take(ready)
                        self._apply()
                if self._broken:
                    raise Lost(self._broken)
                if self._closed or self._renew.is_set():
                    return
                now = time.monotonic()
                if now < next_beat:
                    continue
                next_beat = now + BEAT
                turn = self._beat(now, turn)  # without _reading: see Link.ask

    def _beat(self, now: float, turn: int) -> int:
        """Ask each server whether it is there, and a cluster how its slots are shared."""
        cluster = self.config.cluster
        for link in self._links:
            oldest = link.oldest()
            if oldest is not None and now - oldest > self.grace:
                raise Lost(f"{link.name} did not answer a heartbeat in {self.grace:g} s")
            if link.role_refused or cluster:
                link.ask(PING, "ping", now)
            else:
                link.ask(ROLE, "role", now)
        if cluster:
            # One node a beat is asked how the slots are shared: a failover or a slot moved
            # to a node not tracked here shows there first.
            turn = (turn + 1) % len(self._links)
            self._links[turn].ask(SLOTS, "slots", now)
        return turn

    def _take(self, link: Link) -> None:
        """Move what has come on link to the inbox, each reply with the question it answers
        (under _reading: the reader and the questions asked are the link's)."""
        sock = link.sock
        try:
            data = sock.recv(1 << 16)
            while data:
                link.reader.feed(data)
                pending = getattr(sock, "pending", None)  # TLS: decrypted bytes select misses
                if pending is None or not pending():
                    break
                data = sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            raise Lost(f"{link.name}: {exc}") from None
        if not data:
            raise Lost(f"{link.name} closed the tracking connection")
        inbox = self._inbox
        while (message := link.reader.gets()) is not False:
            if isinstance(message, hiredis.PushNotification):
                inbox.append((link, "", message))
                continue
            if not link.expected:
                raise Lost(f"{link.name} answered a question not asked")
            inbox.append((link, link.expected.popleft()[0], message))

    def _apply(self) -> None:
        """Apply the inbox: invalidations to the near cache, answers to the questions. Any
        thread may, in any order: dropping keys commutes, and each answer carries its question."""
        inbox, near = self._inbox, self.near
        while inbox:
            try:
                link, kind, message = inbox.popleft()
            except IndexError:  # another thread took the last one
                return
            if not kind:
                if message and message[0] == b"invalidate":
                    keys = message[1] if len(message) > 1 else None
                    # Anything but a list of key names (null: every key) drops every entry.
                    if isinstance(keys, list) and all(type(key) is bytes for key in keys):
                        near.invalidated(keys)
                    else:
                        near.invalidated(None)
            else:
                self._answered(link, kind, message)

    def _answered(self, link: Link, kind: str, reply: Any) -> None:
        if kind == "role":
            if isinstance(reply, hiredis.ReplyError):
                link.role_refused = True  # an ACL without ROLE: PING from now on
                return
            role = reply[0] if isinstance(reply, list) and reply else b""
            if role != link.role:
                said = role.decode(errors="replace") if isinstance(role, bytes) else repr(role)
                raise Lost(f"{link.name} is now a {said:.40}")
        elif kind == "slots":
            if self._slot_map(reply) != self._slots:
                raise Lost("the cluster's slots moved")
        elif isinstance(reply, hiredis.ReplyError):
            raise Lost(f"{link.name} answered {reply}")
