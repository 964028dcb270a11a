"""Admission on all cores: the checks of ``tlog.entries.admit`` over a process pool, for
``tlog submit`` (bulk input) and the sequencer (a stream of chunks, batch after batch).

The pool lives for the life of the process (a sequencer admits forever with ``--watch``)
and its workers exit when their parent dies. Results come back in order.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache, partial
from multiprocessing.context import BaseContext
from typing import TypeVar

from tlog.entries.submission import Admitted, LogEntry, admit_batch, log_batch
from tlog.errors import ConfigError, TlogError, VerificationError

__all__ = ["EntryCheck", "X509Policy", "admit_many", "admit_stream", "check_chain",
           "check_entries", "check_stream", "chunk_documents", "load_roots",
           "policed_log_batch", "shutdown_admission_pool", "task_spans"]

_CHUNK = 512  # documents per worker task: IPC stays a small part, tails stay short
T = TypeVar("T")
R = TypeVar("R")


def admit_many(docs: Sequence[bytes], workers: int | None = None, *,
               ids: bool = True) -> list[Admitted | TlogError]:
    """Admit many documents on ``workers`` processes (default: all cores), in order; each
    result is the Admitted or the typed error. ``ids=False`` leaves ``submission_id`` empty
    (saves a canonical encoding per document when the caller already knows the ids)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(docs) <= _CHUNK:  # not worth starting the pool
        return admit_batch(docs, True, ids)
    run = partial(admit_batch, portable=True, ids=ids)
    chunks = [(None, part) for part in chunk_documents(docs, workers)]
    return [r for _, part in _stream(run, chunks, workers, len(docs) or 1) for r in part]


def admit_stream(chunks: Iterable[tuple[T, Sequence[bytes]]], workers: int | None = None, *,
                 window: int = 16_384, window_bytes: int = 256 << 20,
                 x509: X509Policy | None = None,
                 ) -> Iterator[tuple[T, list[LogEntry | TlogError]]]:
    """Admit chunk after chunk for the log, yielding ``(tag, results)`` in order while the
    workers go on with the chunks behind it, up to ``window`` documents (and
    ``window_bytes`` of them) ahead of the consumer: bounded memory, and a consumer busy
    committing a batch leaves the workers that much work. Chunks are pulled from
    ``chunks`` only as the window frees up. ``x509``: the log's roots, which every signer
    certificate must chain to (``policed_log_batch``)."""
    fn = partial(policed_log_batch, policy=x509) if x509 and x509.roots else log_batch
    return _stream(fn, chunks, workers or os.cpu_count() or 1, window, window_bytes)


def chunk_documents(docs: Sequence[bytes], workers: int) -> list[Sequence[bytes]]:
    """``docs`` cut into worker tasks: at most ``_CHUNK`` documents (inter-process traffic
    stays small next to the signature checks), tapering at the end so that the workers
    finish close together."""
    return [docs[a:b] for a, b in task_spans(len(docs), workers)]


def task_spans(n: int, workers: int) -> list[tuple[int, int]]:
    """[start, end) of each worker task for ``n`` documents (see ``chunk_documents``)."""
    size = max(16, min(_CHUNK, n // (workers * 8) or 16))
    tail = min(n, size * workers * 2)  # the last stretch goes in quarter-size tasks
    spans = [(a, min(a + size, n - tail)) for a in range(0, n - tail, size)]
    small = max(8, size // 4)
    spans += [(a, min(a + small, n)) for a in range(n - tail, n, small)]
    return spans


def _stream(fn: Callable[[Sequence[bytes]], list[R]], chunks: Iterable[tuple[T, Sequence[bytes]]],
            workers: int, window: int, window_bytes: int = 1 << 62,
            held: Callable[[T], tuple[int, int]] | None = None,
            ) -> Iterator[tuple[T, list[R]]]:
    """Run ``fn`` over tagged chunks on the pool, in order, with up to ``window`` documents
    (``window_bytes`` of them) in flight; ``held(tag)``: what else the producer holds for a
    chunk until it is consumed (documents, bytes), counted in the window with it. A worker
    that dies (killed, out of memory) costs one restart of the pool and a resubmission of
    what was in flight; a second death is an error."""
    if workers == 1:
        for tag, docs in chunks:
            yield tag, fn(docs)
        return
    pending: deque[tuple[T, Sequence[bytes], Future[list[R]], int, int]] = deque()
    in_flight = in_bytes = 0
    restarted = False

    def oldest() -> tuple[T, list[R]]:
        nonlocal in_flight, in_bytes, restarted
        tag, _, future, n, size = pending[0]
        try:
            result = future.result()
        except BrokenProcessPool:
            if restarted:
                raise
            restarted = True
            _POOLS.pop(workers, None)
            again = [(t, d, _pool(workers).submit(fn, d), n, b) for t, d, _, n, b in pending]
            pending.clear()
            pending.extend(again)
            return oldest()
        pending.popleft()
        in_flight -= n
        in_bytes -= size
        return tag, result

    try:
        for tag, docs in chunks:
            n, size = held(tag) if held else (0, 0)
            n, size = n + len(docs), size + sum(map(len, docs))
            pending.append((tag, docs, _pool(workers).submit(fn, docs), n, size))
            in_flight += n
            in_bytes += size
            while pending and (in_flight >= window or in_bytes >= window_bytes):
                yield oldest()
        while pending:
            yield oldest()
    finally:  # the consumer stopped early: tasks not started yet are not run
        for _, _, future, _, _ in pending:
            future.cancel()


_POOLS: dict[int, ProcessPoolExecutor] = {}
_CONTEXT: BaseContext | None = None  # how workers start: forked from this process, unless
# ``clean_workers`` asked for a fresh interpreter


def clean_workers() -> None:
    """Start admission workers from a fresh interpreter (a fork server), not forked from this
    process: a server's workers would otherwise hold copies of its listening socket and of the
    connections open at that moment, so a connection the server closed stayed open (its next
    request hung) and a stopped server's port kept accepting. Call before the first admission.
    A command line run keeps fork, which starts workers faster."""
    global _CONTEXT
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    _CONTEXT = ctx


def _pool(workers: int) -> ProcessPoolExecutor:
    """One process pool per size, kept for the life of the process: a sequencer admits in
    chunks, batch after batch (and forever with ``--watch``), and starting workers each
    time costs more than a chunk's IPC. Shut down at exit."""
    pool = _POOLS.get(workers)
    if pool is None:
        if not _POOLS:
            atexit.register(shutdown_admission_pool)
        pool = _POOLS[workers] = ProcessPoolExecutor(
            workers, mp_context=_CONTEXT, initializer=_watch_parent, initargs=(os.getpid(),)
        )
    return pool


def _watch_parent(parent: int) -> None:
    """In each worker: exit as soon as the parent is gone. A killed sequencer (SIGKILL, an
    OOM kill, a CI time-out) must not leave workers behind, blocked on a full result pipe."""

    first = os.getppid()  # the sequencer, or the fork server it started

    def watch() -> None:
        while os.getppid() == first and _alive(parent):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the number: ours is gone
        return False
    return True


def shutdown_admission_pool() -> None:
    """Stop the admission workers (they start again on the next ``admit_many``)."""
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


@dataclass(frozen=True)
class X509Policy:
    """A log's X.509 trust: the DER root certificates a signer's certificate must chain to,
    and the time it must be valid at (Unix seconds: the admission run's start, since a
    hashedrekord carries no signing time)."""

    roots: tuple[bytes, ...]
    at: int


def load_roots(paths: Sequence[str]) -> tuple[bytes, ...]:
    """The DER root certificates in PEM files (``[[trust.x509]] roots``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out = []
    for path in paths:
        try:
            certs = x509.load_pem_x509_certificates(open(path, "rb").read())  # noqa: SIM115
        except (OSError, ValueError) as e:
            raise ConfigError(f"trust.x509.roots: cannot read root certificates from {path}: "
                              f"{e}") from e
        out += [c.public_bytes(Encoding.DER) for c in certs]
    return tuple(out)


def check_chain(der: bytes, policy: X509Policy) -> str | None:
    """Why the certificate does not chain to the policy's roots, valid at its time and marked
    for code signing; None when it does."""
    from cryptography import x509
    from cryptography.x509.verification import VerificationError as Refused

    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError as e:
        return f"not a certificate: {e}"
    plain = _plain_reason(leaf, policy)
    if plain:
        return plain
    try:
        _verifier(policy).verify(leaf, [])
    except (Refused, ValueError) as e:
        return str(e).split(" (encountered processing")[0] or type(e).__name__
    return None


def _plain_reason(leaf: object, policy: X509Policy) -> str | None:
    """The common refusals said plainly (the verifier's own words name its internals)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert: x509.Certificate = leaf  # type: ignore[assignment]
    at = dt.datetime.fromtimestamp(policy.at, dt.UTC)
    if at > cert.not_valid_after_utc:
        return f"it expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
    if at < cert.not_valid_before_utc:
        return f"it is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
    roots = [x509.load_der_x509_certificate(r).subject for r in policy.roots]
    if cert.issuer not in roots:
        return f"it was issued by {cert.issuer.rfc4514_string() or 'an unnamed CA'}, which is " \
               "not one of this log's roots"
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "it is not for code signing (no extended key usage)"
    if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        names = ", ".join(getattr(u, "_name", u.dotted_string) for u in usage)
        return f"it is not for code signing (its extended key usage: {names})"
    return None


@lru_cache(maxsize=4)
def _verifier(policy: X509Policy) -> object:
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
    )

    def code_signing(_policy: object, _cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise ValueError("the certificate is not for code signing (extended key usage)")

    ee = ExtensionPolicy.permit_all().require_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, code_signing)
    store = Store([x509.load_der_x509_certificate(r) for r in policy.roots])
    return (PolicyBuilder().store(store).time(dt.datetime.fromtimestamp(policy.at, dt.UTC))
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
            .build_client_verifier())


def policed_log_batch(docs: Sequence[bytes], policy: X509Policy) -> list[LogEntry | TlogError]:
    """``log_batch``, then every signer certificate checked against the log's X.509 roots:
    one that does not chain turns its entry into a rejection saying why."""
    from tlog.entries.registry import entry_certificates

    results = log_batch(docs)
    for i, r in enumerate(results):
        if isinstance(r, TlogError):
            continue
        for der in entry_certificates(r[0]):
            why = check_chain(der, policy)
            if why is not None:
                results[i] = VerificationError(
                    f"certificate: does not chain to this log's X.509 roots, valid now and "
                    f"for code signing: {why}")
                break
    return results


EntryCheck = tuple[str, object, bool | None]  # (status, keys or reason, signature re-checked)
"""A monitor's verdict on one logged entry: ("ok", its search keys lowercased, whether its
signature itself was re-checked), ("unknown" | "malformed" | "bad", the reason, False)."""


def check_entries(entries: Sequence[bytes]) -> list[EntryCheck]:
    """Re-verify logged entries from their bytes alone (``tlog.entries.verify_entry``), as a
    monitor does: the work of one pool task."""
    from tlog.entries.registry import recheck_entry
    from tlog.errors import MalformedError, UnknownEntryTypeError

    out: list[EntryCheck] = []
    for entry in entries:
        try:
            keys, rechecked = recheck_entry(entry)
            out.append(("ok", sorted({k.lower() for k in keys}), rechecked))
        except UnknownEntryTypeError as e:
            out.append(("unknown", str(e), False))
        except MalformedError as e:
            out.append(("malformed", str(e), False))
        except TlogError as e:
            out.append(("bad", str(e), False))
        except Exception as e:  # a plugin's bug is the plugin's, not the log's
            out.append(("unknown", f"the entry type failed: {type(e).__name__}: {e}", False))
    return out


def check_stream(chunks: Iterable[tuple[T, Sequence[bytes]]], workers: int | None = None, *,
                 window: int = 16_384, window_bytes: int = 256 << 20,
                 held: Callable[[T], tuple[int, int]] | None = None,
                 ) -> Iterator[tuple[T, list[EntryCheck]]]:
    """``check_entries`` over tagged chunks on the pool, in order (a monitor's pass); the
    window as ``_stream``'s."""
    return _stream(check_entries, chunks, workers or os.cpu_count() or 1, window, window_bytes,
                   held)
