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
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tlog.errors import StoreError, TlogError
from tlog.note import Signer

from . import access
from .handler import (
    MAX_BODY,
    Accepted,
    BadRequest,
    ForkDetected,
    Response,
    TooLarge,
    WitnessError,
    add_checkpoint,
    response_for,
)
from .state import KnownStates, LogState, WitnessState, state_exists

__all__ = ["BODY_TIMEOUT", "CONFIG_ENV", "GroupCommit", "app_from_environ", "make_app",
           "process_grouped"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(access.LOGGER)
BODY_TIMEOUT = 10.0  # seconds to receive a request body
CONFIG_ENV = "TLOG_WITNESS_CONFIG"  # the config file, for worker processes
_CAS_TRIES = 20


class GroupCommit:
    """The state's compare-and-swaps, committed in groups (group commit): while one group
    commits (one transaction, one fsync, in a writer thread) the requests that arrive queue on
    the event loop, and go together in the next. A request is answered only once its own write
    is on disk; the sync, and the hop to the writer thread and back, are shared by the group."""

    def __init__(self, state: WitnessState, most: int = 256) -> None:
        self.state, self.most = state, most
        self._waiting: list[tuple[tuple[Any, int, bytes, bytes], asyncio.Future[bool]]] = []
        self._committing = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="witness-commit")

    async def swap(self, op: tuple[Any, int, bytes, bytes]) -> bool:
        """``WitnessState.compare_and_swap`` of ``op`` (old, size, root, note), in a group."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((op, done))
        if not self._committing:
            self._commit(loop)
        return await done

    def _commit(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._waiting = self._waiting[:self.most], self._waiting[self.most:]
        self._committing = True
        ops = [op for op, _ in group]
        try:
            pending = loop.run_in_executor(self._writer, self.state.compare_and_swap_many, ops)
        except Exception as e:  # the writer cannot take it (shut down): said to the group
            self._answer(loop, group, None, e)
            return
        pending.add_done_callback(lambda f: self._answer(loop, group, f))

    def _answer(self, loop: asyncio.AbstractEventLoop, group: list[Any],
                result: asyncio.Future[list[bool]] | None,
                error: BaseException | None = None) -> None:
        """Answer each request of ``group`` (the state's own error, if any, to all of them),
        then start the next group: no outcome of one group leaves the others waiting."""
        self._committing = False
        if result is not None:
            error = (StoreError("the witness's state write was cancelled")
                     if result.cancelled() else result.exception())
        for i, (_, done) in enumerate(group):
            if done.done():  # its request was cancelled
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result.result()[i])  # type: ignore[union-attr]
        if self._waiting:
            self._commit(loop)


async def process_grouped(body: bytes, known: KnownStates, signer: Signer,
                          commits: GroupCommit) -> tuple[Response, str]:
    """One add-checkpoint body against the log's state, on the event loop: parsing, the log's
    signature and the cosignature run here (a fraction of a millisecond; a thread hop costs
    more than they do), the state's write through the group commit. The state is this
    process's last known one (``KnownStates``); when the swap finds it moved, or before
    refusing, the request is checked again against a fresh read. Returns the answer and, for
    the access line, what was cosigned."""
    fresh = False
    for _ in range(_CAS_TRIES):
        acc, shown = _check(body, known, signer, fresh)
        if isinstance(acc, TlogError):
            if not fresh and shown and known.read(shown[0], fresh=True) != shown[1]:
                fresh = True  # refused against a state since moved: check again
                continue
            answer = response_for(acc)
            if isinstance(acc, ForkDetected):
                origin = acc_origin(acc.offered)
                log.warning("fork of %s detected at size %d: %s (both notes are kept: "
                            "tlog witness forks)", origin, acc.size, acc)
                await asyncio.to_thread(known.state.record_fork, origin, acc.size,
                                        acc.cosigned, acc.offered)
            elif answer.status == 422 and shown:  # a proof that fails: no evidence a third
                # party could check (the proof is the log's), but the operator hears of it
                log.warning("refused a checkpoint of %s: %s", shown[0], acc)
            return answer, ""
        old = acc.snapshot
        if await commits.swap((old, acc.size, acc.root, acc.note)):
            known.stored(LogState(old.origin, old.vkeys, acc.size, acc.root, acc.note,
                                  old.frozen))
            return acc.response(), f" cosigned {old.origin} at size {acc.size}"
        fresh = True  # another request, or another worker, moved the state first
    return response_for(WitnessError("too much contention on this log's state; retry")), ""


def _check(body: bytes, known: KnownStates, signer: Signer, fresh: bool,
           ) -> tuple[Accepted | TlogError, tuple[str, LogState | None] | None]:
    """``add_checkpoint`` against ``known``'s state, or its error; with the (origin, state) it
    was shown, if it got as far as looking the log up."""
    shown: list[tuple[str, LogState | None]] = []

    def lookup(origin: str) -> LogState | None:
        shown.append((origin, known.read(origin, fresh)))
        return shown[-1][1]

    try:
        return add_checkpoint(body, lookup, signer), shown[0] if shown else None
    except StoreError:
        raise  # the state could not be read: 503, not the request's fault
    except TlogError as e:
        return e, shown[0] if shown else None


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
        async with asyncio.timeout(BODY_TIMEOUT):  # no task of its own, unlike wait_for
            await read()
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

    commits, known = GroupCommit(state), KnownStates(state)

    async def add(scope: Scope, receive: Receive, send: Send) -> tuple[int, str]:
        try:
            body = await _body(scope, receive)
        except TlogError as e:
            r = response_for(e)
            await _send(send, r.status, r.body, r.content_type)
            return r.status, ""
        except _Disconnected:
            await _send(send, 400, b"")
            return 400, " (client went away)"
        r, done = await process_grouped(body, known, signer, commits)
        await _send(send, r.status, r.body, r.content_type)
        return r.status, done

    async def checkpoint(wanted: str, send: Send) -> int:
        for s in await asyncio.to_thread(state.logs):
            if s.note and hashlib.sha256(s.origin.encode()).hexdigest() == wanted:
                await _send(send, 200, s.note)
                return 200
        await _send(send, 404, b"no checkpoint cosigned for this log\n")
        return 404

    async def home(send: Send) -> int:
        logs = await asyncio.to_thread(state.logs)
        text = f"tiledlog witness {signer.name}\n" + "".join(
            f"{s.origin} {s.size}\n" for s in logs)
        await _send(send, 200, text.encode())
        return 200

    async def route(scope: Scope, receive: Receive, send: Send) -> tuple[int, str]:
        path, method = scope["path"], scope["method"]
        parts = path.split("/")
        if path == "/add-checkpoint":
            allowed = "POST"
        elif path == "/" or (len(parts) == 3 and parts[1] and parts[2] == "checkpoint"):
            allowed = "GET, HEAD"
        else:
            await _send(send, 404, b"Not Found")
            return 404, ""
        if method not in allowed.split(", "):
            await _send(send, 405, b"Method Not Allowed", _TEXT, ((b"allow", allowed.encode()),))
            return 405, ""
        try:
            if path == "/add-checkpoint":
                return await add(scope, receive, send)
            if path == "/":
                return await home(send), ""
            return await checkpoint(parts[1].lower(), send), ""
        except TlogError as e:  # the state could not be read or written
            log.error("witness state: %s", e)
            await _send(send, 503, b"the witness's state is unavailable; retry\n")
            return 503, ""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await asyncio.to_thread(state.checkpoint)  # the state whole in its one file
            return await send({"type": "lifespan.shutdown.complete"})
        if scope["type"] != "http":
            return
        status, done = 500, " (the witness failed or stopped; uvicorn answers 500 if it can)"
        try:
            status, done = await route(scope, receive, send)
        finally:
            _access(scope, status, done)

    return app


def _access(scope: Scope, status: int, done: str) -> None:
    """The request's access line (witness.access): who asked what, the answer; never a body.
    The path as it came (percent-encoded, so it cannot forge a line of its own)."""
    host, port = scope.get("client") or ("-", 0)
    path = (scope.get("raw_path") or scope["path"].encode()).decode("ascii", "backslashreplace")
    access.access_line(f'{host}:{port} - "{scope["method"]} {path} HTTP/'
                       f'{scope.get("http_version", "1.1")}" {status}{done}')


def app_from_environ() -> ASGIApp:
    """The app for one of several worker processes (``workers`` in witness.toml): uvicorn
    starts each from import strings, with the config file in ``TLOG_WITNESS_CONFIG``."""
    from .config import load_config, load_signer

    cfg = load_config(os.environ[CONFIG_ENV])
    access.configure()
    if not state_exists(cfg.state):  # lost while serving: a worker restarted by uvicorn
        # must not start it afresh (`serve` checked it at start). The whole witness stops
        # (its supervisor says why), rather than restart this worker once a second.
        os.kill(os.getppid(), signal.SIGTERM)
        raise SystemExit(2)
    return make_app(WitnessState(cfg.state), load_signer(cfg))


def __getattr__(name: str) -> Any:
    """``witness.server:GuardedFromEnviron``: the guarded HTTP protocol with the limits of the
    config file in ``TLOG_WITNESS_CONFIG``, for worker processes (a class made inside a
    function cannot be handed to a new process; its import string can)."""
    if name != "GuardedFromEnviron":
        raise AttributeError(name)
    from tlog.guard import guarded_protocol

    from .config import load_config

    cls = guarded_protocol(load_config(os.environ[CONFIG_ENV]).limits, access.LOGGER)
    globals()[name] = cls
    return cls
