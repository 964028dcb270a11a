"""RFC 8785 canonical JSON: the fast path (the JSON module's sorted output) gives exactly the
library's bytes wherever it is taken, and what entries may not hold is refused by name."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.entries.canonical import canonical_json
from tlog.errors import MalformedError

_ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_values = st.recursive(
    st.none() | st.booleans() | _ints | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_same_bytes_as_the_library(value: object) -> None:
    out = canonical_json(value)
    assert out == rfc8785.dumps(value)
    assert canonical_json(json.loads(out)) == out


def test_rfc8785_key_order_is_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB33 in UTF-16.
    value = {"\ufb33": 1, "\U0001f600": 2, "\r": 3, "1": 4, "\u00e9": 5}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert list(json.loads(canonical_json(value))) == ["\r", "1", "\u00e9", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(("value", "message"), [
    ({"a": 1.5}, "a number with a fraction or exponent"),
    ([2**53], "integer outside the I-JSON range"),
    ("\ud800", "non-UTF-8 codepoints"),
    ({1: "x"}, "not canonicalisable"),
])
def test_what_entries_may_not_hold(value: object, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        canonical_json(value)
