"""RFC 8785 (JCS) canonical JSON for the values entries use: objects, arrays, strings, integers,
booleans and null. Floats are refused: no entry needs them and their JCS form is subtle.

The serialisation is Trail of Bits' ``rfc8785`` (the one sigstore-python uses); the JSON
module's sorted output is taken instead where it is provably the same bytes (plain ASCII
values), because admission canonicalises every document and that path is several times faster."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from tlog.errors import MalformedError

__all__ = ["canonical_json"]


_MAX_INT = 2**53 - 1
_FAST = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False)
_SCALARS = (str, bool, type(None))


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only strings, booleans, null, I-JSON integers, lists and
    string-keyed objects: then the JSON module's sorted output is already the JCS form."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _SCALARS):
            continue
        if isinstance(v, int):
            if abs(v) > _MAX_INT:
                return False
        elif isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                return False
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        else:
            return False
    return True


def _refuse_floats(value: Any) -> None:
    """Entries hold no floats (their JCS form is subtle and no entry needs one): refuse them
    before the library would serialise them."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            raise MalformedError("a number with a fraction or exponent (entries hold integers)")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)


def canonical_json(value: Any, *, plain: bool = False) -> bytes:
    """The RFC 8785 serialisation of ``value`` as UTF-8 bytes (MalformedError for values
    I-JSON cannot hold: floats, huge integers, lone surrogates, absurd nesting).

    ``plain=True``: the caller vouches that ``value`` has no floats, no integers beyond
    2**53 and only string keys (as ``load_document`` guarantees), which saves a walk."""
    try:
        return _canonical(value, plain)
    except RecursionError as e:
        raise MalformedError("JSON nested too deeply") from e
    except UnicodeEncodeError as e:
        raise MalformedError("string holds a lone surrogate (not valid I-JSON)") from e


def _canonical(value: Any, plain: bool) -> bytes:
    # For pure-ASCII output of plain values the JSON module's form is the JCS form: the same
    # escapes, and code-point key order equals UTF-16 order below U+10000.
    if plain or _plain(value):
        fast = _FAST.encode(value)
        if fast.isascii():
            return fast.encode()
    _refuse_floats(value)
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError as e:
        raise MalformedError("integer outside the I-JSON range") from e
    except rfc8785.CanonicalizationError as e:
        raise MalformedError(f"not canonicalisable as RFC 8785 JSON: {e}") from e
