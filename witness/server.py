"""The witness as an ASGI app (Starlette, served by uvicorn).

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
import queue
import threading
from concurrent.futures import Future
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

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

__all__ = ["BODY_TIMEOUT", "GroupCommit", "make_app", "process", "process_grouped"]

log = logging.getLogger("tiledlog.witness")
BODY_TIMEOUT = 10.0  # seconds to receive a request body
_CAS_TRIES = 20


def process(body: bytes, state: WitnessState, signer: Signer) -> Response:
    """Handle one add-checkpoint body against the stored state (blocking: SQLite, Ed25519)."""
    for _ in range(_CAS_TRIES):
        try:
            acc = add_checkpoint(body, state.get, signer)
        except ForkDetected as e:
            log.warning("fork detected at size %d: %s", e.size, e)
            state.record_fork(acc_origin(e.offered), e.size, e.cosigned, e.offered)
            return response_for(e)
        except TlogError as e:
            return response_for(e)
        if state.compare_and_swap(acc.snapshot, acc.size, acc.root, acc.note):
            log.info("cosigned %s at size %d", acc.snapshot.origin, acc.size)
            return acc.response()
    return response_for(WitnessError("too much contention on this log's state; retry"))


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
    """``process`` on the event loop: parsing, the log's signature and the cosignature run
    here (a fraction of a millisecond; a thread hop costs more than they do), the state's
    write through the group commit. The answer is the same as ``process``'s."""
    for _ in range(_CAS_TRIES):
        try:
            acc = add_checkpoint(body, state.get, signer)
        except ForkDetected as e:
            log.warning("fork detected at size %d: %s", e.size, e)
            await run_in_threadpool(state.record_fork, acc_origin(e.offered), e.size,
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


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"request body over {MAX_BODY} bytes")
    chunks, total = [], 0

    async def read() -> None:
        nonlocal total
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_BODY:
                raise TooLarge(f"request body over {MAX_BODY} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_TIMEOUT)
    except TimeoutError as e:
        raise BadRequest(f"request body not received within {BODY_TIMEOUT:g} s") from e
    return b"".join(chunks)


def _http(r: Response) -> HTTPResponse:
    # The content type exactly as given: Starlette would add "; charset=utf-8" to a text/*
    # media type, and clients compare "text/x.tlog.size" literally.
    return HTTPResponse(r.body, status_code=r.status, headers={"content-type": r.content_type})


def make_app(state: WitnessState, signer: Signer) -> Starlette:
    """The witness app over ``state``, cosigning with ``signer``."""

    commits = GroupCommit(state)

    async def add(request: Request) -> HTTPResponse:
        try:
            body = await _body(request)
        except TlogError as e:
            return _http(response_for(e))
        except ClientDisconnect:
            return HTTPResponse(b"", status_code=400)
        try:
            return _http(await process_grouped(body, state, signer, commits))
        except TlogError as e:  # the state could not be read or written
            log.error("witness state: %s", e)
            return HTTPResponse(b"the witness's state is unavailable; retry\n", status_code=503,
                                media_type="text/plain; charset=utf-8")

    async def checkpoint(request: Request) -> HTTPResponse:
        wanted = request.path_params["origin_hash"].lower()
        for s in await run_in_threadpool(state.logs):
            if s.note and hashlib.sha256(s.origin.encode()).hexdigest() == wanted:
                return HTTPResponse(s.note, media_type="text/plain; charset=utf-8")
        return HTTPResponse(b"no checkpoint cosigned for this log\n", status_code=404,
                            media_type="text/plain; charset=utf-8")

    async def home(request: Request) -> HTTPResponse:
        logs = await run_in_threadpool(state.logs)
        text = f"tiledlog witness {signer.name}\n" + "".join(
            f"{s.origin} {s.size}\n" for s in logs)
        return HTTPResponse(text.encode(), media_type="text/plain; charset=utf-8")

    routes: list[Any] = [
        Route("/add-checkpoint", add, methods=["POST"]),
        Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
        Route("/", home, methods=["GET"]),
    ]
    return Starlette(routes=routes)
