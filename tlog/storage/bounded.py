"""Bounded HTTP reads: what a log's server (or a witness) sends is untrusted, so every answer is
read with a size limit fitted to the object, enforced on the decompressed bytes, within a total
deadline, and only from the origin that was asked.

A hash tile is at most 256 hashes (8,192 bytes); an entry bundle at most 256 entries of a 16-bit
length and up to 65,535 bytes; a checkpoint, a manifest and a page have generous limits of their
own. Anything else an honest log does not send: a gzip bomb, an endless or oversized body, a
drip of one byte every few seconds (of the body, or of the status line and headers, which
http.client reads with a timeout per socket read only), a redirect to another origin. Each ends
in ``HostileResponseError`` naming the object, never in a ``MemoryError`` or a hang.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection

from tlog.errors import HostileResponseError, StoreError

__all__ = ["DEADLINE_ENV", "bounded_get", "bounded_post", "deadline_seconds", "fit_session",
           "limit_for", "read_body", "transport_reason"]

DEADLINE_ENV = "TLOG_HTTP_TIMEOUT"  # total seconds for one object (default 60)
_DEFAULT_DEADLINE = 60.0
_CHUNK = 64 << 10
_HASH_TILE = 256 * 32
_ENTRY_BUNDLE = 256 * (2 + 0xFFFF)
_LIMITS = (
    (re.compile(r"tile/entries/.+"), _ENTRY_BUNDLE),
    (re.compile(r"tile/\d+/.+"), _HASH_TILE),
    (re.compile(r"checkpoint"), 1 << 20),  # a note with many cosignatures is still small
    (re.compile(r"index/manifest/\d+"), 8 << 20),  # 16 shards x 3 levels x 512 fences, JSON
    (re.compile(r"index/.+"), 512 << 20),  # level objects: clients read them by range
)
_OTHER = 16 << 20  # pages and anything else
_REDIRECTS = 5


def limit_for(key: str) -> int:
    """The most bytes an honest log serves for ``key``."""
    for pattern, limit in _LIMITS:
        if pattern.fullmatch(key):
            return limit
    return _OTHER


def deadline_seconds() -> float:
    """The total time one object may take (``$TLOG_HTTP_TIMEOUT``, default 60 s)."""
    value = os.environ.get(DEADLINE_ENV, "")
    try:
        return float(value) if value else _DEFAULT_DEADLINE
    except ValueError:
        return _DEFAULT_DEADLINE


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


# ----- the answer's head within the deadline --------------------------------------------------

_sending = threading.local()  # .head: the _Head of the request this thread is sending
_GRACE = 1.0  # a silent server meets the socket's own timeout first: a transport failure


class _Head:
    """The deadline of one request's status line and headers, and whether it was cut."""

    def __init__(self, deadline: float) -> None:
        self.deadline, self.cut = deadline, False

    def expire(self, sock: Any) -> None:
        self.cut = True
        while not hasattr(sock, "shutdown") and hasattr(sock, "socket"):
            sock = sock.socket  # urllib3's TLS inside TLS (an https:// proxy) wraps a socket
        with contextlib.suppress(OSError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns: the head is cut


class _Watchdog:
    """Calls each armed function at its time, from one thread for the whole process: a timer
    thread per request cost a thread start each, milliseconds while the GIL is busy (a
    monitor's fetching threads waited on them)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._armed: set[int] = set()
        self._next = 0
        self._thread: threading.Thread | None = None

    def arm(self, when: float, fn: Callable[[], None]) -> int:
        with self._cond:
            self._next += 1
            heapq.heappush(self._heap, (when, self._next, fn))
            self._armed.add(self._next)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tlog-deadlines",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][1] == self._next:  # sooner than what the thread waits for
                self._cond.notify()
            return self._next

    def disarm(self, handle: int) -> bool:
        """Whether it was still armed (False: its function has run or is about to)."""
        with self._cond:
            if handle not in self._armed:
                return False
            self._armed.discard(handle)
            if len(self._heap) > 2 * len(self._armed) + 64:  # mostly disarmed: rebuilt, so
                # that what the heap holds follows the requests in flight, not those of the
                # last deadline's worth of time
                self._heap = [e for e in self._heap if e[1] in self._armed]
                heapq.heapify(self._heap)
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][1] not in self._armed:
                        heapq.heappop(self._heap)  # disarmed: dropped when it comes up
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, handle, fn = heapq.heappop(self._heap)
                        self._armed.discard(handle)
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            with contextlib.suppress(Exception):
                fn()


_watchdog = _Watchdog()
_fitting = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child starts with no thread and free locks
    os.register_at_fork(after_in_child=lambda: globals().update(
        _watchdog=_Watchdog(), _fitting=threading.Lock()))


class _HeadWithinDeadline:
    """A urllib3 connection whose answer's head must come by the request's deadline: the
    watchdog shuts the socket down then (a read in progress ends)."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kw: Any) -> Any:
        head: _Head | None = getattr(_sending, "head", None)
        if head is None or self.sock is None:
            return super().getresponse(*args, **kw)  # type: ignore[misc]
        # The socket's own timeout ends at the deadline, the watchdog a moment later: a
        # server that sends nothing (after however slow a connect) meets the timeout, a
        # transport failure; only one that keeps sending is cut.
        given = self.timeout if isinstance(self.timeout, int | float) else 30.0
        self.timeout = max(0.001, min(given, head.deadline - time.monotonic()))
        sock = self.sock
        handle = _watchdog.arm(head.deadline + _GRACE, lambda: head.expire(sock))
        try:
            return super().getresponse(*args, **kw)  # type: ignore[misc]
        finally:
            if not _watchdog.disarm(handle):
                head.cut = True  # the socket is being shut down: the answer is not whole


class _HTTPConnection(_HeadWithinDeadline, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeadWithinDeadline, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections bound the time to the answer's head."""

    _POOLS: ClassVar[dict[str, type]] = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = self._POOLS

    def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kw)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own: unbounded head
            manager.pool_classes_by_scheme = self._POOLS
        return manager


def fit_session(session: requests.Session) -> None:
    """Mount ``_Adapter`` on a session where it has requests' default adapter (once): any
    session given to ``bounded_get`` works; an adapter the caller mounted is left as it is
    (its answers' heads are then bounded per read only)."""
    with _fitting:
        for prefix in ("https://", "http://"):
            if type(session.adapters.get(prefix)) is requests.adapters.HTTPAdapter:
                session.mount(prefix, _Adapter())


def _send(session: requests.Session, method: str, url: str, what: str, deadline: float,
          **kw: Any) -> requests.Response:
    """One request, following redirects only within the origin asked; its answer's head (a
    status line and headers) must come by ``deadline``, however slowly it drips."""
    fit_session(session)
    for _ in range(_REDIRECTS + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise HostileResponseError(f"{what}: no answer within the deadline")
        head = _sending.head = _Head(deadline)
        slow = HostileResponseError(f"{what}: too slow: the answer's status line and headers "
                                    "were not complete within the deadline")
        try:
            resp = session.request(method, url, stream=True, allow_redirects=False,
                                   timeout=min(left, 30.0), **kw)
        except requests.RequestException as e:
            if head.cut:
                raise slow from e
            raise
        finally:
            _sending.head = None
        if head.cut:  # http.client takes a head cut off for a whole one, with no body
            resp.close()
            raise slow
        if resp.status_code not in (301, 302, 303, 307, 308):
            return resp
        target = urljoin(url, resp.headers.get("Location", ""))
        resp.close()
        if _origin(target) != _origin(url):
            raise HostileResponseError(
                f"{what}: redirected to another origin ({_origin(target)[1] or target!r}): "
                "refused (the log's files must come from the URL you gave)")
        url = target
    raise HostileResponseError(f"{what}: more than {_REDIRECTS} redirects")


def read_body(resp: requests.Response, limit: int, deadline: float, what: str,
              stop: int | None = None) -> bytes:
    """The (decompressed) body, at most ``limit`` bytes, read before ``deadline``; with
    ``stop``, only its first ``stop`` bytes are wanted (the rest is not read)."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and resp.headers.get("Content-Encoding", "identity") == "identity" \
            and int(declared) > limit:
        resp.close()
        raise HostileResponseError(f"{what}: {declared} bytes announced, over the "
                                   f"{limit}-byte limit for it")
    out = bytearray()
    try:
        # read1: what one socket read brings (read() would wait for a whole chunk, so a drip
        # of one byte every few seconds would never reach the deadline check).
        while chunk := resp.raw.read1(_CHUNK, decode_content=True):
            out += chunk
            if stop is not None and len(out) >= stop:
                return bytes(out[:stop])
            if len(out) > limit:
                raise HostileResponseError(f"{what}: more than {limit} bytes (the limit for "
                                           "it, counted after decompression)")
            if time.monotonic() > deadline:
                raise HostileResponseError(f"{what}: too slow: not complete within the "
                                           "deadline")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        raise StoreError(f"{what}: the transfer failed: {type(e).__name__}") from e
    finally:
        resp.close()
    return bytes(out)


def bounded_get(session: requests.Session, url: str, what: str, limit: int,
                headers: dict[str, str] | None = None, stop: int | None = None,
                ) -> tuple[requests.Response, bytes]:
    """GET ``url``: the response (for its status and headers) and its bounded body (an
    error status's body is cut short: only its first line is ever shown)."""
    deadline = time.monotonic() + deadline_seconds()
    resp = _send(session, "GET", url, what, deadline, headers=headers)
    if resp.status_code not in (200, 206):
        limit = min(limit, 4096)
    return resp, read_body(resp, limit, deadline, what, stop)


def bounded_post(session: requests.Session, url: str, what: str, limit: int, data: bytes,
                 timeout: float) -> tuple[requests.Response, bytes]:
    """POST ``data`` to ``url`` (a witness): the response and its bounded body."""
    deadline = time.monotonic() + timeout
    resp = _send(session, "POST", url, what, deadline, data=data)
    return resp, read_body(resp, limit, deadline, what)


def transport_reason(e: BaseException, timeout: float | None = None) -> str:
    """A transport failure in plain words ("connection refused", "host name not found"), not
    a library's repr of its retry pool."""
    if isinstance(e, requests.Timeout):
        return f"no answer within {timeout:g} s" if timeout else "no answer in time"
    if isinstance(e, StoreError) and not isinstance(e, HostileResponseError):
        return str(e).removeprefix(f"{e.key}: ") if e.key else str(e)
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and "Name or service not known" in str(cause):
            return "host name not found"
        cause = cause.__cause__ or cause.__context__
    text = str(e)
    for words in ("Connection refused", "Name or service not known", "certificate verify failed",
                  "Connection reset", "Connection aborted", "Read timed out"):
        if words in text:
            return words[0].lower() + words[1:]
    return f"unreachable ({type(e).__name__})"
