"""RFC 8785 (JCS) canonical JSON for the values entries use: objects, arrays, strings, integers,
booleans and null. Floats are refused: no entry needs them and their JCS form is subtle."""

from __future__ import annotations

import json
from typing import Any

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


def _enc(v: Any, out: list[str]) -> None:
    if v is None or isinstance(v, bool):
        out.append("null" if v is None else ("true" if v else "false"))
    elif isinstance(v, int):
        if abs(v) > 2**53 - 1:
            raise MalformedError("integer outside the I-JSON range")
        out.append(str(v))
    elif isinstance(v, str):
        out.append(json.dumps(v, ensure_ascii=False))
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _enc(x, out)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        # JCS sorts member names by their UTF-16 code units.
        for i, k in enumerate(sorted(v, key=lambda s: s.encode("utf-16-be"))):
            if not isinstance(k, str):
                raise MalformedError("object keys must be strings")
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _enc(v[k], out)
        out.append("}")
    else:
        raise MalformedError(f"cannot canonicalise a {type(v).__name__}")


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
    out: list[str] = []
    _enc(value, out)
    return "".join(out).encode()
