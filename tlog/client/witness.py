"""Asking witnesses to cosign a checkpoint (the log's side of c2sp.org/tlog-witness).

Each witness is asked in parallel, with a timeout: ``old <size the log believes it has>``
and the consistency proof from that size. A 409 names the witness's real size; the request
is rebuilt from it once. Returned lines are kept only if they verify with the witness's
configured key; they are appended to the log's note.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from tlog.errors import MalformedError, StoreError, TlogError, VerificationError
from tlog.note import Verifier
from tlog.storage.bounded import bounded_post, transport_reason
from tlog.witness_protocol import format_add_checkpoint, parse_size

__all__ = ["WitnessSpec", "cosign_with", "gather_cosignatures", "merge_cosignatures"]

_ANSWER_LIMIT = 64 << 10  # a witness answers with cosignature lines (or a size, or an error)


@dataclass(frozen=True)
class WitnessSpec:
    """A witness: its name, submission URL prefix and cosignature verifier."""

    name: str
    url: str
    verifier: Verifier


def _note_text(note: bytes) -> bytes:
    i = note.rfind(b"\n\n")
    if i < 0:
        raise MalformedError("note has no signature block")
    return note[: i + 1]


def _verified_lines(spec: WitnessSpec, note: bytes, body: bytes) -> list[bytes]:
    """The response lines that are valid cosignatures by ``spec``'s key over the note."""
    text = _note_text(note)
    good, other_keys = [], []
    for line in body.decode("utf-8", "replace").splitlines():
        name, sep, b64 = line.removeprefix("— ").partition(" ")
        if not line.startswith("— ") or not sep or name != spec.verifier.name:
            continue
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            continue
        if raw[:4] != bytes(spec.verifier.key_id):
            other_keys.append(raw[:4].hex())
        elif spec.verifier.verify(text, raw[4:]):
            good.append(f"{line}\n".encode())
    if not good:
        raise VerificationError(f"witness {spec.name} returned no valid cosignature" + (
            f": it signed with key {', '.join(other_keys)}, not the configured "
            f"{bytes(spec.verifier.key_id).hex()} (if it rotated its key, give its new one: "
            "tlog config add-witness --url URL --vkey NEW.pub)" if other_keys else ""))
    return good


def cosign_with(
    spec: WitnessSpec, note: bytes, size: int, prove: Callable[[int], list[bytes]],
    known: int = 0, timeout: float = 10.0, session: requests.Session | None = None,
) -> list[bytes]:
    """Ask one witness; its verified cosignature lines, or a typed error saying why not."""
    http = session or requests.Session()
    url = spec.url.rstrip("/") + "/add-checkpoint"
    old = known if 0 <= known <= size else 0
    for attempt in range(2):
        body = format_add_checkpoint(old, prove(old) if 0 < old < size else [], note)
        try:  # a witness's answer is a few cosignature lines: bounded, same origin only
            resp, content = bounded_post(http, url, f"witness {spec.name}", _ANSWER_LIMIT,
                                         body, timeout)
        except requests.RequestException as e:
            raise StoreError(f"witness {spec.name} at {url}: {transport_reason(e, timeout)}") from e
        if resp.status_code == 200:
            return _verified_lines(spec, note, content)
        if resp.status_code == 409 and attempt == 0:
            old = parse_size(content)
            if old > size:
                raise VerificationError(f"witness {spec.name} has size {old}, beyond this "
                                        f"log's {size}: the log was rolled back or forked")
            continue
        text = content.decode("utf-8", "replace").strip()
        detail = text.splitlines()[0][:200] if text else ""
        raise VerificationError(f"witness {spec.name}: HTTP {resp.status_code}"
                                + (f": {detail}" if detail else ""))
    raise VerificationError(f"witness {spec.name}: HTTP 409 again: witness holds size {old}")


def merge_cosignatures(note: bytes, lines: Sequence[bytes]) -> bytes:
    """The note with extra signature lines appended (duplicates dropped)."""
    have = set(note[note.rfind(b"\n\n") + 2 :].splitlines(keepends=True))
    extra = [ln for ln in lines if ln not in have]
    return bytes(note) + b"".join(extra)


def gather_cosignatures(
    specs: Sequence[WitnessSpec], note: bytes, size: int,
    prove: Callable[[int], list[bytes]], *, timeout: float = 10.0,
    known_sizes: dict[str, int] | None = None,
) -> tuple[bytes, dict[str, list[bytes] | Exception]]:
    """Ask every witness at once; (note with all verified cosignatures, result per name)."""
    known = known_sizes or {}
    results: dict[str, list[bytes] | Exception] = {}

    def one(spec: WitnessSpec) -> None:
        try:
            results[spec.name] = cosign_with(spec, note, size, prove, known.get(spec.name, 0),
                                             timeout)
        except TlogError as e:
            results[spec.name] = e

    if specs:
        with ThreadPoolExecutor(len(specs)) as pool:
            list(pool.map(one, specs))
    lines: list[bytes] = []
    for spec in specs:
        got = results[spec.name]
        if isinstance(got, list):
            lines += got
    return merge_cosignatures(note, lines), results
