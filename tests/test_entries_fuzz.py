"""Hypothesis fuzzing of submission parsing and entry reading: whatever the input, the only
outcomes are an admitted entry or a typed error (MalformedError / VerificationError)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signers import ALGOS, signer
from test_entries import dsse, hashedrekord, intoto

from tlog.entries import admit, describe_entry, entry_search_keys, verify_entry
from tlog.errors import MalformedError, UnknownEntryTypeError, VerificationError

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


# ----- the canonical fast path of hashedrekord re-verification ---------------------------------

def _both_readings(entry: bytes) -> tuple[Any, Any]:
    """(outcome of ``recheck_entry`` as a monitor runs it, outcome with the canonical fast path
    off: the JSON parse finding the type and the fields): a value, or the error's class."""
    from unittest import mock

    import tlog.entries.hashedrekord as hr
    import tlog.entries.registry as registry

    def run() -> Any:
        hr._decode.cache_clear()
        registry._parsed.cache_clear()
        try:
            return registry.recheck_entry(entry)
        except TYPED as e:
            return type(e)

    fast = run()
    with mock.patch.object(hr, "_decode_canonical", lambda entry: None), \
            mock.patch.object(registry, "_by_prefix", lambda: ()):
        slow = run()
    return fast, slow


@pytest.mark.parametrize("algo", ALGOS)
def test_canonical_hashedrekord_entries_take_the_fast_path_to_the_same_reading(
        algo: str) -> None:
    """Each key type's logged entry is read from its bytes without a JSON parse, to the same
    parts and the same verdict as the parse gives (the fast path is not silently skipped)."""
    import dataclasses

    import tlog.entries.hashedrekord as hr

    entry = admit(json.dumps(hashedrekord(signer(algo))).encode()).entry
    fast = hr._decode_canonical(entry)
    assert fast is not None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hr, "_decode_canonical", lambda entry: None)
        hr._decode.cache_clear()
        slow = hr._decode(entry)
    hr._decode.cache_clear()
    assert dataclasses.astuple(fast)[:3] == dataclasses.astuple(slow)[:3]
    assert (fast.key.der, fast.options, fast.details) == (slow.key.der, slow.options,
                                                          slow.details)
    reading = _both_readings(entry)
    assert reading[0] == reading[1] and isinstance(reading[0], tuple), reading


@SETTINGS
@given(st.sampled_from(["hashedrekord", "hashedrekord-ed25519"]), st.integers(0, 10**6),
       st.binary(min_size=0, max_size=3), st.integers(0, 3))
def test_mutated_hashedrekord_entries_read_alike_with_and_without_the_fast_path(
        name: str, at: int, insert: bytes, cut: int) -> None:
    entry = ENTRIES[name]
    at %= len(entry)
    broken = entry[:at] + insert + entry[at + cut:]
    fast, slow = _both_readings(broken)
    named_twice = broken.count(b'"kind"') > 1 or broken.count(b'"apiVersion"') > 1
    assert fast == slow or (named_twice and fast is MalformedError
                            and slow is UnknownEntryTypeError), (broken, fast, slow)


def test_an_entry_naming_its_kind_twice_is_malformed_not_unknown() -> None:
    """Not canonical JSON (RFC 8785 has no duplicate members): a log that holds it misbehaved,
    which the JSON reading hid by reading the last kind as an unknown type (exit 4)."""
    from tlog.entries.registry import recheck_entry

    entry = ENTRIES["hashedrekord"]
    twice = entry.replace(b'"kind":"hashedrekord",', b'"kind":"hashedrekord","kind":"zzz",', 1)
    with pytest.raises(MalformedError) as e:
        recheck_entry(twice)
    assert not isinstance(e.value, UnknownEntryTypeError)
    with pytest.raises(MalformedError, match="expected entry bytes"):
        recheck_entry(memoryview(entry))  # type: ignore[arg-type]
