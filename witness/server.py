"""The witness as an ASGI app (served by uvicorn).

Routes (c2sp.org/tlog-witness):

- ``POST /add-checkpoint``: ``witness.handler.add_checkpoint``, then a compare-and-swap of the
  log's state; a request that loses a race to a concurrent one is re-checked against the new
  state (and then typically answered 409), so the state only ever moves forward.
- ``GET /<sha256 hex of origin>/checkpoint``: the latest checkpoint cosigned for that log,
  with the log's signature and this witness's cosignature.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any

from tlog.errors import TlogError
from tlog.note import Signer

from .handler import (
    MAX_BODY,
    BadRequest,
    ForkDetected,
    Response,
    TooLarge,
    WitnessError,
    add_checkpoint,
    response_for,
)
from .state import WitnessState

__all__ = ["BODY_TIMEOUT", "CONFIG_ENV", "GroupCommit", "app_from_environ", "make_app",
           "process_grouped"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("tiledlog.witness")
BODY_TIMEOUT = 10.0  # seconds to receive a request body
CONFIG_ENV = "TLOG_WITNESS_CONFIG"  # the config file, for worker processes
_CAS_TRIES = 20


class GroupCommit:
    """One writer thread for the state: the compare-and-swaps that arrive while it commits
    are committed together, in arrival order, with one fsync (group commit). A request is
    answered only once its own write is on disk, as before; the cost of the sync is shared."""

    def __init__(self, state: WitnessState, most: int = 256) -> None:
        self.state, self.most = state, most
        self.queue: queue.SimpleQueue[tuple[tuple[Any, int, bytes, bytes], Future[bool]]] = \
            queue.SimpleQueue()
        threading.Thread(target=self._run, name="witness-commit", daemon=True).start()

    def submit(self, op: tuple[Any, int, bytes, bytes]) -> Future[bool]:
        done: Future[bool] = Future()
        self.queue.put((op, done))
        return done

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.most:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self.state.compare_and_swap_many([op for op, _ in batch])
            except Exception as e:  # the state's own error, to every request of the group
                for _, done in batch:
                    done.set_exception(e)
                continue
            for (_, done), ok in zip(batch, results, strict=True):
                done.set_result(ok)


async def process_grouped(body: bytes, state: WitnessState, signer: Signer,
                          commits: GroupCommit) -> Response:
    """One add-checkpoint body against the stored state, on the event loop: parsing, the log's
    signature and the cosignature run here (a fraction of a millisecond; a thread hop costs
    more than they do), the state's write through the group commit, retried against the new
    state when a concurrent request moved it first."""
    for _ in range(_CAS_TRIES):
        try:
            acc = add_checkpoint(body, state.get, signer)
        except ForkDetected as e:
            log.warning("fork detected at size %d: %s", e.size, e)
            await asyncio.to_thread(state.record_fork, acc_origin(e.offered), e.size,
                                    e.cosigned, e.offered)
            return response_for(e)
        except TlogError as e:
            return response_for(e)
        op = (acc.snapshot, acc.size, acc.root, acc.note)
        if await asyncio.wrap_future(commits.submit(op)):
            log.info("cosigned %s at size %d", acc.snapshot.origin, acc.size)
            return acc.response()
    return response_for(WitnessError("too much contention on this log's state; retry"))


def acc_origin(note: bytes) -> str:
    return note.split(b"\n", 1)[0].decode("utf-8", "replace")


class _Disconnected(Exception):
    """The client went away before its request body was whole."""


async def _body(scope: Scope, receive: Receive) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"request body over {MAX_BODY} bytes")
    chunks, total = [], 0

    async def read() -> None:
        nonlocal total
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > MAX_BODY:
                raise TooLarge(f"request body over {MAX_BODY} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return

    try:
        await asyncio.wait_for(read(), BODY_TIMEOUT)
    except TimeoutError as e:
        raise BadRequest(f"request body not received within {BODY_TIMEOUT:g} s") from e
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


_TEXT = "text/plain; charset=utf-8"


async def _send(send: Send, status: int, body: bytes, content_type: str = _TEXT,
                extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    # The content type exactly as given: clients compare "text/x.tlog.size" literally.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


def make_app(state: WitnessState, signer: Signer) -> ASGIApp:
    """The witness app over ``state``, cosigning with ``signer``: a bare ASGI callable, since
    three routes do not need a framework and each request's cost is the witness's limit
    (bench/witness.py)."""

    commits = GroupCommit(state)

    async def add(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _body(scope, receive)
        except TlogError as e:
            r = response_for(e)
            return await _send(send, r.status, r.body, r.content_type)
        except _Disconnected:
            return await _send(send, 400, b"")
        try:
            r = await process_grouped(body, state, signer, commits)
        except TlogError as e:  # the state could not be read or written
            log.error("witness state: %s", e)
            return await _send(send, 503, b"the witness's state is unavailable; retry\n")
        await _send(send, r.status, r.body, r.content_type)

    async def checkpoint(wanted: str, send: Send) -> None:
        for s in await asyncio.to_thread(state.logs):
            if s.note and hashlib.sha256(s.origin.encode()).hexdigest() == wanted:
                return await _send(send, 200, s.note)
        await _send(send, 404, b"no checkpoint cosigned for this log\n")

    async def home(send: Send) -> None:
        logs = await asyncio.to_thread(state.logs)
        text = f"tiledlog witness {signer.name}\n" + "".join(
            f"{s.origin} {s.size}\n" for s in logs)
        await _send(send, 200, text.encode())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        parts = path.split("/")
        if path == "/add-checkpoint":
            allowed = "POST"
        elif path == "/" or (len(parts) == 3 and parts[1] and parts[2] == "checkpoint"):
            allowed = "GET, HEAD"
        else:
            return await _send(send, 404, b"Not Found")
        if method not in allowed.split(", "):
            return await _send(send, 405, b"Method Not Allowed", _TEXT,
                               ((b"allow", allowed.encode()),))
        if path == "/add-checkpoint":
            await add(scope, receive, send)
        elif path == "/":
            await home(send)
        else:
            await checkpoint(parts[1].lower(), send)

    return app


def app_from_environ() -> ASGIApp:
    """The app for one of several worker processes (``workers`` in witness.toml): uvicorn
    starts each from import strings, with the config file in ``TLOG_WITNESS_CONFIG``."""
    from .config import load_config, load_signer

    cfg = load_config(os.environ[CONFIG_ENV])
    return make_app(WitnessState(cfg.state), load_signer(cfg))


def __getattr__(name: str) -> Any:
    """``witness.server:GuardedFromEnviron``: the guarded HTTP protocol with the limits of the
    config file in ``TLOG_WITNESS_CONFIG``, for worker processes (a class made inside a
    function cannot be handed to a new process; its import string can)."""
    if name != "GuardedFromEnviron":
        raise AttributeError(name)
    from .config import load_config
    from .guard import guarded_protocol

    cls = guarded_protocol(load_config(os.environ[CONFIG_ENV]).limits)
    globals()[name] = cls
    return cls
