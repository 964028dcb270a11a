"""Connection limits for the HTTP servers (``tlog witness serve``, ``tlog serve``): a deadline
for each request head, and caps on connections per client address and in all.

uvicorn bounds the size of a request head but not the time it may take, and it counts idle
connections against ``limit_concurrency``, so a few hundred silent sockets made every request
a 503. This protocol (uvicorn's own HTTP protocol, given to it as ``http=``) closes a
connection that has not sent a whole request head within ``head_timeout`` of opening or of its
last response (408), and refuses a connection beyond the caps at once (429 for one address, 503
in all), so one client cannot hold the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["Limits", "guarded_protocol", "uvicorn_settings"]


@dataclass(frozen=True)
class Limits:
    """What one server allows (witness.toml's ``[limits]`` table; ``tlog serve``'s options)."""

    head_timeout: float = 10.0  # seconds from connect (or last response) to a full request head
    idle_timeout: float = 5.0  # seconds a kept-alive connection may wait for its next request
    per_client: int = 16  # open connections from one address
    total: int = 1024  # open connections in all


_OWN_FILES = 256  # descriptors kept for the server's own work (store, queue, state, threads)


def _within_files(limits: Limits, log: logging.Logger) -> Limits:
    """``limits`` with ``total`` below what the process may open (``ulimit -n``) less its own
    files: at 1024, the usual soft limit, a flood of silent sockets used up the descriptors
    before the cap or the head deadline could act, and the server's own next file failed
    (EMFILE). The soft limit is first raised toward the hard one."""
    try:
        import resource
    except ImportError:  # not on this platform: the cap stands as given
        return limits
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.total + _OWN_FILES
    if soft != resource.RLIM_INFINITY and soft < want:
        raised = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= want:
        return limits
    total = max(1, soft - min(_OWN_FILES, soft // 4))
    log.warning("at most %d connections (not %d): the process may open %d files (ulimit -n)",
                total, limits.total, soft)
    return dataclasses.replace(limits, total=total, per_client=min(limits.per_client, total))


def _reply(transport: asyncio.BaseTransport, status: bytes) -> None:
    body = status.split(b" ", 1)[1] + b"\n"
    transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain\r\ncontent-length: "  # type: ignore[attr-defined]
                    + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
    transport.close()


def guarded_protocol(limits: Limits, logger: str) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with ``limits`` applied (one class per server): its httptools
    protocol (a C parser, about a third of the cost of a request less) when httptools is
    installed, else its h11 one. A request asking to upgrade the connection (Java's client
    asks for h2c on every cleartext connection) is handed to the h11 protocol, which ignores
    the upgrade and reads the body; uvicorn's httptools protocol loses that body."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    open_from: Counter[str] = Counter()
    log = logging.getLogger(logger)  # where refusals are told
    limits = _within_files(limits, log)
    plain = _guarded(H11Protocol, "handle_events", limits, open_from, log)
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return plain
    fast = _guarded(HttpToolsProtocol, "on_headers_complete", limits, open_from, log)

    class Fast(fast):  # type: ignore[valid-type,misc]
        _head = b""  # what came of a request head not yet whole (it may come in pieces)

        def on_response_complete(self) -> None:
            # A HEAD answer's head is its last write: out now, before uvicorn may close
            # the connection (graceful shutdown) or write its own 400 to it.
            if self.cycle is not None and isinstance(self.cycle.transport, _TurnWrites):
                self.cycle.transport._flush()
            super().on_response_complete()

        def on_headers_complete(self) -> None:
            self._head = b""
            super().on_headers_complete()
            if self.cycle is not None and not isinstance(self.cycle.transport, _TurnWrites):
                self.cycle.transport = _TurnWrites(self.cycle.transport, self.loop)

        def data_received(self, data: bytes) -> None:
            between = self.cycle is None or (self.cycle.response_complete and not self.pipeline)
            if between:
                # The head so far, not this piece alone: a head split across packets with its
                # Upgrade in a later one was handed over without its start (400).
                head = self._head + data
                self._head = head if len(head) <= _HEAD_KEPT else b""
                if _UPGRADE.search(head):
                    self._head = b""
                    self._unset_keepalive_if_required()
                    self._hand_over(plain, head)
                    return
            super().data_received(data)

    return Fast


class _TurnWrites:
    """A response's transport that sends its head with the first write after it, in one
    system call (uvicorn writes a response's head and its body apart: two sends where one
    does). A write with nothing held is held until that next write or the end of the event
    loop's turn, whichever comes first: a lone head, or a '100 Continue' a client waits for
    before its body, still goes out at once; and whatever is held when uvicorn marks the
    response complete (a HEAD answer's head) is written then. So a whole response is written
    before anything else may write to the connection or close it (uvicorn's graceful shutdown,
    its own 400 for bytes that do not parse)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop, self._held = transport, loop, b""

    def write(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
            self._transport.write(data)
        elif data:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._held:
            data, self._held = self._held, b""
            if not self._transport.is_closing():  # closed meanwhile: nowhere to go
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_UPGRADE = re.compile(rb"\r\nupgrade:", re.IGNORECASE)
_HEAD_KEPT = 64 << 10  # bytes of a head in pieces kept to hand over (uvicorn refuses larger)


def _guarded(base: type[Any], head_hook: str, limits: Limits, open_from: Counter[str],
             log: logging.Logger) -> type[Any]:
    """``base`` (one of uvicorn's HTTP protocols) with the head deadline and the caps;
    ``head_hook`` is its method that sees a whole request head."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        _counted: str | None = None
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            addr = self.client[0] if self.client else "?"
            if sum(open_from.values()) >= limits.total:
                log.warning("refused a connection from %s: %d open in all", addr, limits.total)
                _reply(transport, b"503 Service Unavailable")
            elif open_from[addr] >= limits.per_client:
                log.warning("refused a connection from %s: %d open from it", addr,
                            limits.per_client)
                _reply(transport, b"429 Too Many Requests")
            else:
                self._counted = addr
                open_from[addr] += 1
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._uncount()
            super().connection_lost(exc)

        def _uncount(self) -> None:
            self._disarm()
            if self._counted is not None:
                open_from[self._counted] -= 1
                if not open_from[self._counted]:
                    del open_from[self._counted]
                self._counted = None

        def _hand_over(self, other: type[Any], data: bytes) -> None:
            """Give this connection, and ``data`` (the start of a request), to ``other``."""
            self._uncount()
            self.server_state.connections.discard(self)
            proto = other(config=self.config, server_state=self.server_state,
                          app_state=self.app_state, _loop=self.loop)
            proto.connection_made(self.transport)
            self.transport.set_protocol(proto)
            proto.data_received(data)

        def _head_seen(self, *args: Any) -> None:
            before = self.cycle
            getattr(super(), head_hook)(*args)
            if self.cycle is not before:  # a whole request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            # A pipelined request whose head already came is served next: no deadline then.
            if not getattr(self, "pipeline", None):
                self._arm()
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(limits.head_timeout, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                log.warning("closed a connection from %s: no whole request head within %g s",
                            self._counted or "?", limits.head_timeout)
                _reply(self.transport, b"408 Request Timeout")

    setattr(Guarded, head_hook, Guarded._head_seen)
    return Guarded


def uvicorn_settings(limits: Limits, logger: str) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that apply ``limits`` (refusals logged to
    ``logger``)."""
    return {"http": guarded_protocol(limits, logger), "timeout_keep_alive": limits.idle_timeout,
            "limit_concurrency": None}
