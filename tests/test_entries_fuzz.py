"""Hypothesis fuzzing of submission parsing and entry reading: whatever the input, the only
outcomes are an admitted entry or a typed error (MalformedError / VerificationError)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signers import signer
from test_entries import dsse, hashedrekord, intoto

from tlog.entries import admit, describe_entry, entry_search_keys, verify_entry
from tlog.errors import MalformedError, VerificationError

TYPED = (MalformedError, VerificationError)
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)

VALID = {
    "hashedrekord": hashedrekord(signer("ecdsa-p256")),
    "hashedrekord-ed25519": hashedrekord(signer("ed25519")),
    "dsse": dsse([signer("ed25519"), signer("ecdsa-p256")]),
    "intoto-link": intoto([signer("ed25519")]),
}
ENTRIES = {name: admit(json.dumps(d).encode()).entry for name, d in VALID.items()}


def _outcome(doc: bytes) -> str:
    try:
        admit(doc)
        return "admitted"
    except TYPED as e:
        assert str(e) and "\n" not in str(e)
        return type(e).__name__


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    parent = copy
    for p in path[:-1]:
        parent = parent[p]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    assert _outcome(data) in ("MalformedError", "VerificationError")


@SETTINGS
@given(st.sampled_from(["hashedrekord", "dsse", "intoto-link", "x"]),
       st.dictionaries(st.sampled_from(["digest", "signature", "public_key", "certificate",
                                        "envelope", "public_keys", "certificates", "link",
                                        "rsa_pss", "key_details", "extra"]),
                       json_values, max_size=5))
def test_random_documents_of_each_type(kind: str, fields: dict[str, Any]) -> None:
    assert _outcome(json.dumps({"type": kind, **fields}).encode()) != "admitted"


@SETTINGS
@given(st.sampled_from(sorted(VALID)), st.data(), json_values, st.booleans())
def test_mutated_valid_documents(name: str, data: st.DataObject, new: Any,
                                 delete: bool) -> None:
    doc = VALID[name]
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    _outcome(json.dumps(_replace(doc, path, new, delete)).encode())


@SETTINGS
@given(st.sampled_from(sorted(ENTRIES)), st.integers(0, 10**6), st.binary(min_size=1,
                                                                            max_size=3))
def test_mutated_entries_are_read_with_typed_errors(name: str, at: int, insert: bytes) -> None:
    entry = ENTRIES[name]
    at %= len(entry)
    broken = entry[:at] + insert + entry[at + 1:]
    for read in (describe_entry, entry_search_keys, verify_entry):
        with contextlib.suppress(TYPED):
            read(broken)


@SETTINGS
@given(st.sampled_from(sorted(ENTRIES)), st.data(), json_values)
def test_structurally_mutated_entries(name: str, data: st.DataObject, new: Any) -> None:
    body = json.loads(ENTRIES[name])
    path = data.draw(st.sampled_from(_paths(body)[1:]))
    broken = json.dumps(_replace(body, path, new, False)).encode()
    for read in (describe_entry, entry_search_keys, verify_entry):
        with contextlib.suppress(TYPED):
            read(broken)
