"""``tlog serve``: the log as a Rekor v2 write endpoint (``POST /api/v2/log/entries``).

A request is a Rekor v2 ``CreateEntryRequest`` (``hashedRekordRequestV002``). The frontend
checks it exactly as admission does (``tlog.sigstore.submission_from_create_entry``, then
``admit``, then the log's X.509 roots), answers 409 with the entry's index when the log already
has it (header ``x-log-index``, as Rekor v2), queues it, and answers 201 with the
``TransparencyLogEntry`` (inclusion proof and signed checkpoint) once a published checkpoint (so
witnessed, as the log's policy asks) includes it.

Several frontends may share one queue and one store, on one machine or many: each runs the
sequencer on a short interval, the store's lock lets one commit at a time, and every frontend
answers from the published checkpoints, whoever sequenced. A frontend acknowledges only what a
published checkpoint holds, and queues before it waits: one that dies loses nothing it
answered, and what it queued is logged by the next run of any of them.

Bounds: request bodies (``max_request``), a token bucket per client address (429 with
``Retry-After``), an answer deadline (503: still queued, retry; the retry answers 409 or 201).
Reads stay static files; ``files`` serves a folder log's files too, for a self-contained demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tlog.client import LogClient
from tlog.client.admission import X509Policy, check_chain, load_roots
from tlog.client.submit import queue_admitted
from tlog.client.tiles import TileSource
from tlog.entries.canonical import canonical_json
from tlog.entries.registry import entry_certificates
from tlog.entries.submission import admit
from tlog.errors import (
    ConflictError,
    MalformedError,
    NotFoundError,
    StoreError,
    TlogError,
    VerificationError,
)
from tlog.queue import BULK_BYTES, BULK_MAX, REJECTED_PREFIX, bulk_key
from tlog.sigstore import log_id, submission_from_create_entry, transparency_log_entry

from .config import LogConfig

__all__ = ["Frontend", "FrontendLimits", "RateLimiter"]

log = logging.getLogger("tiledlog.serve")
access = logging.getLogger("tiledlog.serve.access")


@dataclass(frozen=True)
class FrontendLimits:
    """What one frontend allows each request and each client."""

    max_request: int = 128 << 10  # bytes: a request with a 3-certificate chain fits in 16 KiB
    rate: float = 50.0  # requests per second per client address, sustained
    burst: int = 100  # requests a client may send at once
    answer_timeout: float = 25.0  # seconds to wait for publication (clients wait >= 20 s)
    body_timeout: float = 10.0  # seconds to receive a request's body once its head came


@dataclass
class RateLimiter:
    """A token bucket per client address: ``take`` is None when the request may go ahead,
    else the seconds until it could."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, client: str) -> float | None:
        now = self.clock()
        tokens, then = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget the idle (full) buckets
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}
        return None


class GroupedQueue:
    """Queue writes that arrive together go out as one bulk queue object (one write here, one
    read and one delete for the sequencer), a lone one as its own object: the same group
    commit as the witness's state writes. A request is acknowledged only after publication, so
    a group lost with the process loses nothing anyone was told was logged."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self._items: list[tuple[Any, bytes, Future[None]]] = []
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="queue writer", daemon=True)
        self._thread.start()

    def put(self, admitted: Any, canonical: bytes) -> Future[None]:
        done: Future[None] = Future()
        with self._ready:
            self._items.append((admitted, canonical, done))
            self._ready.notify()
        return done

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._items:
                    self._ready.wait()
                take, size = 0, 0  # at most BULK_MAX documents and BULK_BYTES, as intake reads
                while take < min(BULK_MAX, len(self._items)) and (
                        take == 0 or size + len(self._items[take][1]) + 1 <= BULK_BYTES):
                    size += len(self._items[take][1]) + 1
                    take += 1
                group, self._items = self._items[:take], self._items[take:]
            try:
                if len(group) == 1:
                    queue_admitted(self.queue, group[0][0], group[0][1])
                else:
                    body = b"".join(c + b"\n" for _, c, _ in group)
                    with contextlib.suppress(ConflictError):  # named by its bytes: the same
                        self.queue.put(bulk_key(body, len(group)), body)
            except Exception as e:  # each waiting request gets the failure
                for _, _, done in group:
                    _settle(done, e)
                continue
            for _, _, done in group:
                _settle(done, None)


def _settle(done: Future[None], error: BaseException | None) -> None:
    """Resolve a request's future; one whose request went away is skipped (the writer must
    outlive any request)."""
    if done.set_running_or_notify_cancel():
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class Frontend:
    """The write endpoint over one log. ``sequence`` is one sequencing run (None: this frontend
    only queues and answers; another process sequences)."""

    def __init__(self, cfg: LogConfig, store: Any, queue: Any,
                 sequence: Callable[[Callable[[], bool]], Any] | None, *,
                 interval: float = 0.25, limits: FrontendLimits = FrontendLimits(),
                 files: Path | None = None, pages: Any = None) -> None:
        self.cfg, self.store, self.queue = cfg, store, queue
        self.sequence, self.interval, self.limits, self.files = sequence, interval, limits, files
        self.pages = pages  # the site's SiteUpdater: flushed after runs, and when stopping
        self.client = LogClient(store, cfg.vkey, origin=cfg.origin)
        self.log_key_id = log_id(cfg.vkey)
        self.roots = load_roots(cfg.x509_roots) if cfg.x509_roots else ()
        self.allow_pure_ed25519 = cfg.allow_pure_ed25519
        self.limiter = RateLimiter(limits.rate, limits.burst)
        self.writer = GroupedQueue(queue)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._find_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._thread: threading.Thread | None = None
        self.checkpoint = self.client.latest()
        self.stats = {"runs": 0, "run_seconds": 0.0, "admitted": 0, "requests": 0,
                      "answered": 0}
        self.failing: tuple[float, str] | None = None  # since when runs fail, and why

    # ----- the sequencing and publication watch -----------------------------------------

    def _run(self) -> None:
        """Sequence (if this frontend does) and watch the published checkpoint, every
        ``interval`` or sooner when a request arrives, until ``stop`` (a batch boundary)."""
        pause = self.interval
        while not self.stop.is_set():
            try:
                held_back = False
                if self.sequence is not None:
                    started = time.monotonic()
                    summary = self.sequence(self.stop.is_set)
                    self.stats["runs"] += 1
                    self.stats["run_seconds"] += time.monotonic() - started
                    self.stats["admitted"] += getattr(getattr(summary, "stats", None),
                                                      "admitted", 0)
                    held_back = bool(getattr(summary, "short_of_witnesses", False))
                latest = self.client.latest()
                if self.pages is not None:
                    self.pages.flush()
                # A tree short of the witness policy (held back, or already public): its
                # witnesses are asked again less and less often (up to 30 s; a request still
                # wakes the thread at once).
                pause = min(30.0, pause * 2) if held_back else self.interval
                self.failing = None
            except (TlogError, OSError) as e:  # a store's bad minute, or no file to be had
                # (EMFILE): nothing acknowledged is lost, and the thread must live on
                pause = min(30.0, pause * 2)
                self.failing = (self.failing or (time.monotonic(), ""))[0], str(e)
                log.warning("sequencing run failed: %s; again in %g s", e, pause)
            else:
                if latest.checkpoint.size != self.checkpoint.checkpoint.size:
                    with self._find_lock:  # a new tree: lookups start from fresh tile caches
                        self.checkpoint = latest  # (which would otherwise hold every tile
                        self.client.source = TileSource(self.store)  # a server ever read)
                    if self._loop is not None:
                        self._loop.call_soon_threadsafe(self._notify)
            self.wake.wait(pause)
            self.wake.clear()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def start(self) -> None:
        # The sequencing thread makes hundreds of short system calls per batch, each giving
        # up the GIL; taking it back from the request threads waits up to the switch interval
        # (5 ms by default), which made a run 5x slower under load than alone.
        sys.setswitchinterval(0.0005)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop at a batch boundary and wait for the run in progress."""
        self.stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join()
        if self.pages is not None:
            self.pages.flush(force=True)
        log.info("stopped at a batch boundary; the log's published size is %d",
                 self.checkpoint.checkpoint.size)

    # ----- one request ------------------------------------------------------------------

    def _find(self, leaf: bytes) -> Any:
        """The published entry with this leaf hash, or None (also when the log's index or
        tiles fail a check: said in the log, and the request is not answered with them)."""
        with self._find_lock:
            try:
                return self.client.find(leaf, self.checkpoint)
            except NotFoundError:
                return None
            except VerificationError as e:
                log.error("finding leaf %s: %s", leaf.hex(), e)
                return None

    def _check(self, body: bytes) -> tuple[Any, bytes, Any]:
        """(admitted, its RFC 8785 bytes, the entry already logged or None); raises
        MalformedError/VerificationError."""
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise MalformedError(f"not a JSON document: {e}", field="request") from e
        doc = submission_from_create_entry(request, allow_pure_ed25519=self.allow_pure_ed25519)
        canonical = canonical_json(doc)
        admitted = admit(canonical)
        if self.roots:
            policy = X509Policy(self.roots, int(time.time()))
            for der in entry_certificates(admitted.entry):
                why = check_chain(der, policy)
                if why:
                    raise VerificationError(f"certificate: does not chain to this log's X.509 "
                                            f"roots: {why}")
        return admitted, canonical, self._find(admitted.leaf_hash)

    def _rejected(self, submission_id: str) -> str | None:
        """The reason the sequencer stored for refusing a submission this frontend admitted
        (a certificate that expired meanwhile, another frontend's stricter config), if any."""
        try:
            record = json.loads(self.queue.get(f"{REJECTED_PREFIX}{submission_id}.json"))
        except NotFoundError:
            return None
        except (TlogError, ValueError):
            return "(its rejection record is unreadable)"
        return str(record.get("reason", "(no reason stored)"))

    def _answer(self, v: Any) -> bytes:
        return json.dumps(transparency_log_entry(v.to_bundle(), self.log_key_id)).encode()

    async def create_entry(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        self.stats["requests"] += 1
        wait = self.limiter.take(client)
        if wait is not None:
            return _error(429, f"too many requests from {client}; retry in {wait:.1f} s",
                          {"Retry-After": str(max(1, round(wait)))})
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                body = await _body(request, self.limits.max_request)
        except _TooLarge as e:
            return _error(413, str(e))
        except TimeoutError:  # a body sent slowly held the connection for as long as it lasted
            return _error(408, f"request body not received within "
                               f"{self.limits.body_timeout:g} s", {"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            admitted, canonical, existing = await run_in_threadpool(self._check, body)
        except StoreError as e:  # the log's index could not be read
            log.error("index: %s", e)
            return _error(503, "the log's index is unavailable; retry")
        except TlogError as e:  # whatever admission refuses is the request's fault
            return _error(400, str(e))
        try:
            if existing is None:
                await asyncio.wait_for(asyncio.wrap_future(self.writer.put(admitted, canonical)),
                                       self.limits.answer_timeout)
        except (TlogError, TimeoutError) as e:
            log.error("queue: %s", e)
            return _error(503, "the queue is unavailable; retry")
        if existing is not None:
            return _error(409, f"an equivalent entry already exists in the transparency log "
                               f"with index {existing.index}",
                          {"x-log-index": str(existing.index)})
        self.wake.set()
        deadline = time.monotonic() + self.limits.answer_timeout
        while True:
            changed = self._changed
            found = await run_in_threadpool(self._find, admitted.leaf_hash)
            if found is not None:
                self.stats["answered"] += 1
                return Response(self._answer(found), status_code=201,
                                media_type="application/json",
                                headers={"x-log-index": str(found.index)})
            reason = await run_in_threadpool(self._rejected, admitted.submission_id)
            if reason is not None:
                return _error(400, f"the log rejected it: {reason}")
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                return _error(503, f"queued (submission {admitted.submission_id}) but not yet in "
                                   "a published checkpoint; retry the same request",
                              {"Retry-After": "1"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    def app(self) -> Starlette:
        async def healthz(request: Request) -> Response:
            cp = self.checkpoint.checkpoint
            alive = self._thread is not None and self._thread.is_alive()
            failing = self.failing  # a run's bad minute is not ill health; a minute of them is
            failing_for = time.monotonic() - failing[0] if failing else 0.0
            ok = alive and failing_for < _UNHEALTHY_AFTER
            return JSONResponse({"ok": ok, "origin": cp.origin, "size": cp.size,
                                 "failing_for": round(failing_for, 1),
                                 "last_error": failing[1] if failing else None,
                                 **{k: round(v, 3) for k, v in self.stats.items()}},
                                status_code=200 if ok else 503)

        routes: list[Any] = [
            Route("/api/v2/log/entries", self.create_entry, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
        if self.files is not None:
            routes.append(Mount("/", StaticFiles(directory=self.files), name="files"))

        @contextlib.asynccontextmanager  # a bare async generator is deprecated (Starlette)
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.start()
            yield
            await run_in_threadpool(self.shutdown)

        return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(_AccessLog)])


_UNHEALTHY_AFTER = 60.0  # seconds of failing sequencing runs before /healthz says so


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"request body over {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _TooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as Rekor v2's gateway words it: ``{"code", "message"}`` (gRPC status codes)."""
    code = {400: 3, 408: 4, 409: 6, 413: 8, 429: 8, 503: 14}.get(status, 2)
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class _AccessLog:
    """One structured access-log line per request, whichever route answers it (the write
    endpoint, /healthz, the log's files, a 404 or a 405): client, method, path, status, time,
    and the log index a write was given."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, seen = time.monotonic(), {"status": 500, "index": None}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["index"] = next((v.decode("latin-1") for k, v in message.get("headers", [])
                                      if k.lower() == b"x-log-index"), None)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            access.info(json.dumps({
                "client": client[0] if client else None, "method": scope["method"],
                "path": scope["path"], "status": seen["status"],
                "ms": round(1000 * (time.monotonic() - started), 1), "index": seen["index"]}))
