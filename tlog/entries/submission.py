"""Admission: a submission document in, a verified canonical entry (the leaf input) out.

A submission is one JSON object ``{"type": "<entry type>", ...that type's fields...}`` of at
most 1 MiB (docs/submissions.md). Its id is the SHA-256 of its RFC 8785 form, so the same
statement always has the same id, and the same entry bytes and leaf hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

from tlog.errors import MalformedError, TlogError, VerificationError
from tlog.index import search_key
from tlog.merkle import leaf_hash

from .canonical import canonical_json
from .registry import entry_search_keys, entry_type, types

__all__ = [
    "MAX_DOCUMENT",
    "MAX_ENTRY",
    "Admitted",
    "LogEntry",
    "admit",
    "admit_batch",
    "load_document",
    "log_batch",
    "submission_id",
]

MAX_DOCUMENT = 1 << 20  # bytes of one submission document (so of a DSSE envelope too)
MAX_ENTRY = 0xFFFF  # bytes of one entry: C2SP tlog-tiles entry bundles use a 16-bit length
_MAX_INT = 2**53 - 1
R = TypeVar("R")


class Admitted(NamedTuple):
    """A verified submission and the entry it becomes (what ``admit``/``admit_many`` return;
    the sequencer's workers send the leaner ``LogEntry`` instead)."""

    type: str
    entry: bytes
    leaf_hash: bytes
    search_keys: tuple[str, ...]
    submission_id: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise MalformedError(f"duplicate member {json.dumps(dup)}", field="document")
    return obj


def _no_constant(name: str) -> None:
    raise MalformedError(f"{name} is not JSON", field="document")


def _no_float(text: str) -> None:
    raise MalformedError(f"number {text[:40]} is not an integer (no fractions or exponents)",
                         field="document")


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > _MAX_INT:
        raise MalformedError(f"integer {text[:40]} is beyond 2**53 (I-JSON)", field="document")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                            parse_float=_no_float, parse_int=_integer)
_SCAN = _DECODER.scan_once
_JSON_SPACE = " \t\n\r"  # RFC 8259 whitespace (str.strip() alone would take more)


def load_document(doc: bytes) -> dict[str, Any]:
    """The JSON object of a submission: at most 1 MiB of UTF-8, no duplicate member names
    (they would let two readers see two different statements), integers only (|n| < 2**53),
    no NaN/Infinity. What it returns is ready for ``canonical_json(..., plain=True)``."""
    if not isinstance(doc, bytes | bytearray | memoryview):
        raise MalformedError("expected bytes", field="document")
    if len(doc) > MAX_DOCUMENT:
        raise MalformedError(
            f"{len(doc)} bytes exceeds the {MAX_DOCUMENT}-byte limit", field="document"
        )
    try:
        text = bytes(doc).decode("utf-8").strip(_JSON_SPACE)
        value, end = _SCAN(text, 0)  # the decoder's own scanner, without its wrappers
        if end != len(text):
            raise ValueError("Extra data")
    except (ValueError, RecursionError, StopIteration, IndexError):
        try:  # again, through the decoder, for its exact message
            value = _DECODER.decode(bytes(doc).decode("utf-8"))
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise MalformedError(f"not JSON: {_short(e)}", field="document") from e
    if not isinstance(value, dict):
        raise MalformedError("expected a JSON object", field="document")
    return value


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:120] if str(e) else type(e).__name__


def submission_id(doc: dict[str, Any] | bytes) -> str:
    """The id of a submission: SHA-256 hex of its RFC 8785 canonical form."""
    loaded = isinstance(doc, bytes | bytearray)
    value = load_document(doc) if loaded else doc
    try:
        return hashlib.sha256(canonical_json(value, plain=loaded)).hexdigest()
    except MalformedError as e:
        raise MalformedError(str(e), field="document") from e


def admit(doc: bytes) -> Admitted:
    """Parse and verify one submission document into its entry.

    Raises MalformedError (does not parse) or VerificationError (a signature fails), each
    one line naming the field, e.g. ``hashedrekord.signature: does not verify with the
    given public key``.
    """
    (result,) = admit_batch([doc], portable=False)
    if isinstance(result, TlogError):
        raise result
    return result


def admit_batch(docs: Sequence[bytes], portable: bool = True,
                 ids: bool = True) -> list[Admitted | TlogError]:
    """Admit a batch; each result is the Admitted or that document's typed error."""
    return _phases(docs, portable, partial(_encode, ids=ids))


def _phases(docs: Sequence[bytes], portable: bool,
            emit: Callable[[dict[str, Any], Any, Any], R]) -> list[R | TlogError]:
    """Admit a batch in phases (parse all, verify all, then ``emit`` all) rather than one
    document at a time: each phase's code stays hot in the CPU caches, which measurably
    speeds up admission. A failure is that document's result, not the batch's."""
    out: list[R | TlogError | None] = [None] * len(docs)
    known = types()
    parsed: list[tuple[int, dict[str, Any], Any, Any]] = []
    for i, doc in enumerate(docs):
        t = None
        try:
            value = load_document(doc)
            name = value.get("type")
            t = known[name] if isinstance(name, str) and name in known else entry_type(name)
            parsed.append((i, value, t, t.parse(value)))
        except Exception as e:  # one document's failure, whatever it is: see _failure
            out[i] = _failure(e, t, portable)
    verified = []
    for item in parsed:
        try:
            item[2].verify(item[3])
            verified.append(item)
        except Exception as e:
            out[item[0]] = _failure(e, item[2], portable)
    for i, value, t, p in verified:
        try:
            out[i] = emit(value, t, p)
        except Exception as e:
            out[i] = _failure(e, t, portable)
    return out  # type: ignore[return-value]  # every slot is filled above


def _failure(e: Exception, t: Any, portable: bool) -> TlogError:
    """A document's failure as its result. A typed error is the verdict; anything else (a
    plugin's bug, a built-in type's RecursionError) is caught here, at the one boundary
    between the log and code that handles a single untrusted document, and becomes a
    rejection of that document naming the type: raised on, it would fail the whole chunk,
    which stays queued and fails again on every run."""
    if isinstance(e, TlogError):
        return _portable(e) if portable else e
    if t is None:
        return MalformedError(f"could not be read: {type(e).__name__}: {_short(e)}",
                              field="document")
    name = getattr(t, "name", "?")
    origin = getattr(type(t), "__module__", "") or ""
    who = f"entry type {name!r}" if origin.startswith("tlog.") else \
        f"plugin {name!r} ({origin})"
    return TlogError(f"{name}: {who} failed on this document: {type(e).__name__}: "
                     f"{_short(e)}")


def _entry(t: Any, parsed: Any) -> tuple[bytes, tuple[str, ...]]:
    """The entry bytes (size-checked) and the search keys of a verified submission."""
    entry = t.canonical(parsed)
    if len(entry) > MAX_ENTRY:
        raise MalformedError(
            f"its entry would be {len(entry)} bytes, over the {MAX_ENTRY}-byte limit",
            field=t.name,
        )
    fast = getattr(t, "parsed_search_keys", None)
    return entry, tuple(fast(parsed) if fast else entry_search_keys(entry))


def _encode(value: dict[str, Any], t: Any, parsed: Any, ids: bool = True) -> Admitted:
    entry, keys = _entry(t, parsed)
    sid = ""
    if ids:  # the submission id costs a canonical encoding; the sequencer does not need it
        try:
            canonical = canonical_json(value, plain=True)  # load_document vouches for it
        except MalformedError as e:
            raise MalformedError(str(e), field="document") from e
        sid = hashlib.sha256(canonical).hexdigest()
    return Admitted(t.name, entry, leaf_hash(entry), keys, sid)


def _portable(e: TlogError) -> TlogError:
    """The error as it crosses a process boundary: its family and one-line message (a
    plugin's own error class might not survive pickling)."""
    if isinstance(e, MalformedError):
        out: TlogError = MalformedError(str(e))
        out.field = e.field  # type: ignore[attr-defined]
        return out
    family = VerificationError if isinstance(e, VerificationError) else TlogError
    return family(str(e))


LogEntry = tuple[bytes, bytes, bytes]
"""What the sequencer needs of one admitted document: (entry bytes, leaf hash, index keys:
the 32-byte ``tlog.index.search_key`` of each of its distinct search keys, concatenated;
the sequencer files them in the index unchecked). A plain tuple,
hashed in the worker: it crosses a process boundary for every document, and plain tuples
pickle several times faster than named ones."""


def log_batch(docs: Sequence[bytes]) -> list[LogEntry | TlogError]:
    """Admission as the sequencer needs it: no submission ids, index keys hashed."""
    return _phases(docs, True, _log_entry)


def _log_entry(value: dict[str, Any], t: Any, parsed: Any) -> LogEntry:
    entry, keys = _entry(t, parsed)
    return entry, leaf_hash(entry), b"".join(dict.fromkeys([_index_key(k) for k in keys]))


def _index_key(search: str) -> bytes:
    """``tlog.index.search_key``, remembered for key fingerprints (a few keys sign most
    submissions; digests are new every time)."""
    if not search.startswith("key:"):
        return search_key(search)
    found = _KEY_INDEX.get(search)
    if found is None:
        if len(_KEY_INDEX) > 4096:
            _KEY_INDEX.clear()
        found = _KEY_INDEX[search] = search_key(search)
    return found


_KEY_INDEX: dict[str, bytes] = {}


