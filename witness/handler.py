"""``add-checkpoint`` as a pure function: request bytes and a state snapshot in, the new state
and response bytes out, or a typed error. ``response_for`` is the one table from errors to
HTTP statuses (c2sp.org/tlog-witness; the order of checks follows Sunlight's witness).

The caller (``witness.server``) stores the new state with a compare-and-swap against the
snapshot and calls again with a fresh snapshot if it lost a race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.cosignature import parse_any_verifier
from tlog.errors import MalformedError, TlogError, VerificationError
from tlog.merkle import EMPTY_ROOT, check_consistency
from tlog.note import (
    InvalidSignatureError,
    Note,
    Signer,
    UnverifiedNoteError,
    Verifier,
    open_note,
)
from tlog.witness_protocol import (
    SIZE_CONTENT_TYPE,
    format_size,
    parse_add_checkpoint,
    signature_line,
)

from .state import LogState

__all__ = [
    "MAX_BODY",
    "Accepted",
    "BadRequest",
    "Forbidden",
    "ForkDetected",
    "Inconsistent",
    "Response",
    "SizeMismatch",
    "TooLarge",
    "UnknownLog",
    "WitnessError",
    "add_checkpoint",
    "response_for",
]

MAX_BODY = 128 * 1024  # bytes of one request (Sunlight's limit)


class WitnessError(TlogError):
    """A request the witness refuses; ``response_for`` gives its HTTP answer."""


class BadRequest(WitnessError):
    pass


class TooLarge(WitnessError):
    pass


class UnknownLog(WitnessError):
    pass


class Forbidden(WitnessError):
    pass


class SizeMismatch(WitnessError):
    """The request's ``old`` is not the size this witness has; the client retries with it."""

    def __init__(self, size: int) -> None:
        super().__init__(f"witness is at size {size}")
        self.size = size


class Inconsistent(WitnessError):
    pass


class ForkDetected(Inconsistent):
    """A validly signed checkpoint of a size already cosigned, with another root."""

    def __init__(self, message: str, cosigned: bytes, offered: bytes, size: int) -> None:
        super().__init__(message)
        self.cosigned, self.offered, self.size = cosigned, offered, size


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


# The one table: error family → HTTP status (most specific first).
STATUS: tuple[tuple[type[TlogError], int], ...] = (
    (SizeMismatch, 409),
    (Inconsistent, 422),
    (UnknownLog, 404),
    (Forbidden, 403),
    (TooLarge, 413),
    (BadRequest, 400),
    (MalformedError, 400),
)


def response_for(e: TlogError) -> Response:
    """The HTTP response for a refused request."""
    if isinstance(e, SizeMismatch):
        return Response(409, format_size(e.size), SIZE_CONTENT_TYPE)
    for family, status in STATUS:
        if isinstance(e, family):
            return Response(status, f"{e}\n".encode())
    return Response(500, b"internal error\n")


@dataclass(frozen=True)
class Accepted:
    """A request that passed every check: store (size, root, note) if the state is still
    ``snapshot``, then answer 200 with ``body`` (the cosignature line)."""

    snapshot: LogState
    size: int
    root: bytes
    note: bytes  # checkpoint text, the log's verified signatures, this witness's line
    body: bytes

    def response(self) -> Response:
        return Response(200, self.body)


def _origin(note: bytes) -> str:
    try:
        first = bytes(note).split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest("checkpoint is not UTF-8") from e
    if not first:
        raise BadRequest("checkpoint has no origin line")
    return first


@lru_cache(maxsize=1024)
def _verifiers(vkeys: tuple[str, ...]) -> tuple[Verifier, ...]:
    """A log's verifiers, parsed once per key set rather than once per request."""
    return tuple(parse_any_verifier(v) for v in vkeys)


def _open(req_note: bytes, state: LogState) -> tuple[Note, Checkpoint]:
    try:
        verifiers = _verifiers(state.vkeys)
    except MalformedError as e:
        raise WitnessError(f"configured key for {state.origin} is bad: {e}") from e
    try:
        note = open_note(req_note, verifiers)
    except UnverifiedNoteError as e:
        raise Forbidden(f"no signature by a known key of {state.origin}") from e
    except InvalidSignatureError as e:
        raise Forbidden(f"invalid log signature: {e}") from e
    except VerificationError as e:
        raise Forbidden(str(e)) from e
    except MalformedError as e:
        raise BadRequest(f"malformed note: {e}") from e
    try:
        return note, parse_checkpoint(note.text)
    except MalformedError as e:
        raise BadRequest(f"malformed checkpoint: {e}") from e


def add_checkpoint(
    body: bytes, lookup: Callable[[str], LogState | None], cosigner: Signer
) -> Accepted:
    """Check one request against the state ``lookup`` returns and cosign it."""
    if len(body) > MAX_BODY:
        raise TooLarge(f"request body over {MAX_BODY} bytes")
    try:
        req = parse_add_checkpoint(body)
    except MalformedError as e:
        raise BadRequest(str(e)) from e
    origin = _origin(req.note)
    state = lookup(origin)
    if state is None:
        raise UnknownLog(f"unknown log {origin!r}")
    note, cp = _open(req.note, state)
    if req.old > cp.size:
        raise BadRequest(f"old size {req.old} is beyond the checkpoint's size {cp.size}")
    if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
        raise Inconsistent("a size-0 checkpoint must have the empty tree's root")
    if req.old != state.size:
        raise SizeMismatch(state.size)
    if state.frozen and cp.size != state.size:
        raise Forbidden(f"this witness froze {origin} at size {state.size}: it cosigns nothing "
                        "beyond it")
    if req.old == cp.size and cp.root_hash != state.root:
        raise ForkDetected(f"a different root for size {cp.size}, which this witness "
                           "already cosigned", state.note or b"", _log_signed(note), cp.size)
    try:
        check_consistency(list(req.proof), req.old, cp.size, state.root, cp.root_hash)
    except VerificationError as e:
        raise Inconsistent(f"consistency proof from {req.old} to {cp.size} fails: {e}") from e
    line = signature_line(cosigner.name, cosigner.key_id, cosigner.sign(note.text.encode()))
    return Accepted(state, cp.size, cp.root_hash, _log_signed(note) + line, line)


def _log_signed(note: Note) -> bytes:
    """The checkpoint with the log's verified signatures only."""
    lines = "".join(f"— {s.name} {s.b64}\n" for s in note.sigs)
    return f"{note.text}\n{lines}".encode()
