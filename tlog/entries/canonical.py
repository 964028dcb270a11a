"""RFC 8785 (JCS) canonical JSON for the values entries use: objects, arrays, strings, integers,
booleans and null. Floats are refused: no entry needs them and their JCS form is subtle."""

from __future__ import annotations

import json
import re
from typing import Any

from tlog.errors import MalformedError

__all__ = ["canonical_json"]


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_UNSAFE_NUMBER = re.compile(r"[.eE]|[0-9]{16,}")


def _has_unsafe_numbers(fast: str) -> bool:
    """Whether JSON text has a float or an integer that may exceed the I-JSON range."""
    return bool(_UNSAFE_NUMBER.search(_STRINGS.sub("", fast)))


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


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value`` as UTF-8 bytes."""
    try:
        fast = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError):
        fast = ""
    # For pure-ASCII output without floats the JSON module's form is the JCS form: the same
    # escapes, and code-point key order equals UTF-16 order below U+10000.
    if fast and fast.isascii() and not _has_unsafe_numbers(fast):
        return fast.encode()
    out: list[str] = []
    _enc(value, out)
    return "".join(out).encode()
