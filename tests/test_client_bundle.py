"""Proof bundle encodings (tlog.bundle): JSON and C2SP tlog-proof, strict both ways."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.bundle import (
    ProofBundle,
    format_bundle,
    format_tlog_proof,
    parse_any_bundle,
    parse_bundle,
    parse_tlog_proof,
)
from tlog.errors import MalformedError

H1 = hashlib.sha256(b"hash1").digest()
H2 = hashlib.sha256(b"hash2").digest()
NOTE = (
    "example.com/log\n10\n" + base64.b64encode(bytes(32)).decode() + "\n\n"
    "— example.com/log AAAAAAAAAA==\n"
).encode()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_tlog_proof_layout_matches_the_spec() -> None:
    # c2sp.org/tlog-proof: header, optional extra, index, proof lines, blank line, checkpoint.
    b = ProofBundle(5, b"extra information", (H1, H2), NOTE)
    want = (f"c2sp.org/tlog-proof@v1\nextra {b64(b'extra information')}\nindex 5\n"
            f"{b64(H1)}\n{b64(H2)}\n\n").encode() + NOTE
    assert format_tlog_proof(b) == want
    assert parse_tlog_proof(want) == b


def test_tlog_proof_without_extra_or_hashes() -> None:
    b = ProofBundle(0, None, (), NOTE)
    text = format_tlog_proof(b)
    assert text == b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + NOTE
    assert parse_any_bundle(text) == b


def test_json_bundle_round_trip_and_members() -> None:
    b = ProofBundle(7, b"\x00entry", (H1,), NOTE)
    data = format_bundle(b)
    doc = json.loads(data)
    assert doc == {"format": "tiledlog-bundle/v1", "index": 7, "entry": b64(b"\x00entry"),
                   "inclusion_proof": [b64(H1)], "checkpoint": NOTE.decode()}
    assert parse_bundle(data) == b
    assert parse_any_bundle(data) == b


def _doc(**change: object) -> bytes:
    doc = json.loads(format_bundle(ProofBundle(7, b"e", (H1,), NOTE)))
    doc.update(change)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_doc(format="tiledlog-bundle/v2"), "format"),
        (_doc(index=-1), "index"),
        (_doc(index=True), "index"),
        (_doc(index="7"), "index"),
        (_doc(index=1 << 63), "index"),
        (_doc(entry="not base64!"), "entry"),
        (_doc(entry="ZQ"), "entry"),  # unpadded: not canonical
        (_doc(inclusion_proof=[b64(b"short")]), "inclusion_proof[0]"),
        (_doc(inclusion_proof=b64(H1)), "inclusion_proof"),
        (_doc(inclusion_proof=[b64(H1)] * 64), "inclusion_proof"),
        (_doc(checkpoint="no newline"), "checkpoint"),
        (_doc(checkpoint=5), "checkpoint"),
        (_doc(extra=1), "extra"),
        (b'{"format": "a", "format": "b"}', "format"),
        (b"[1, 2]", "bundle"),
        (b"\xff\xfe", "bundle"),
        (b"{", "bundle"),
    ],
)
def test_json_bundle_rejects(data: bytes, field: str) -> None:
    with pytest.raises(MalformedError) as e:
        parse_bundle(data)
    assert e.value.field == field


def test_json_bundle_missing_member() -> None:
    doc = json.loads(_doc())
    del doc["entry"]
    with pytest.raises(MalformedError, match="entry: missing member"):
        parse_bundle(json.dumps(doc).encode())


GOOD = f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1)}\n\n".encode() + NOTE


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"c2sp.org/tlog-proof@v2\nindex 5\n\n" + NOTE, "tlog-proof"),
        (b"c2sp.org/tlog-proof@v1\nindex 05\n\n" + NOTE, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex -5\n\n" + NOTE, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex  5\n\n" + NOTE, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\n" + NOTE, "index"),
        (b"c2sp.org/tlog-proof@v1\nextra !!\nindex 5\n\n" + NOTE, "extra"),
        (b"c2sp.org/tlog-proof@v1\nextra \nindex 5\n\n" + NOTE, "extra"),
        (b"c2sp.org/tlog-proof@v1\nindex 5\nAAAA\n\n" + NOTE, "proof line 1"),
        (b"c2sp.org/tlog-proof@v1\nindex 5\n" + b64(H1).encode() + b"\n", "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\nindex 5\n\nexample.com/log", "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\n", "index"),
        (b"c2sp.org/tlog-proof@v1\nindex 5\n\n\xff\n", "tlog-proof"),
    ],
)
def test_tlog_proof_rejects(data: bytes, field: str) -> None:
    with pytest.raises(MalformedError) as e:
        parse_tlog_proof(data)
    assert e.value.field == field


def test_tlog_proof_keeps_the_checkpoint_verbatim() -> None:
    b = parse_tlog_proof(GOOD)
    assert b.checkpoint == NOTE and b.index == 5 and b.proof == (H1,) and b.entry is None


def test_json_bundle_needs_the_entry() -> None:
    with pytest.raises(MalformedError, match="entry"):
        format_bundle(ProofBundle(1, None, (), NOTE))


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, (1 << 63) - 1),
    entry=st.binary(min_size=1, max_size=300),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=63),
)
def test_both_encodings_round_trip(index: int, entry: bytes, proof: list[bytes]) -> None:
    b = ProofBundle(index, entry, tuple(proof), NOTE)
    assert parse_any_bundle(format_bundle(b)) == b
    assert parse_any_bundle(format_tlog_proof(b)) == b


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400))
def test_garbage_raises_only_malformed(data: bytes) -> None:
    for parse in (parse_bundle, parse_tlog_proof, parse_any_bundle):
        with contextlib.suppress(MalformedError):
            parse(data)
        with contextlib.suppress(MalformedError):
            parse(b"c2sp.org/tlog-proof@v1\n" + data)


# ----- any flipped bit fails verification ------------------------------------------------------


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProofBundle, str]:
    from loglib import TestLog, synthetic_entries

    from tlog.client import LogClient
    from tlog.storage import open_store

    log = TestLog.build(tmp_path_factory.mktemp("log"), synthetic_entries(777), index=False)
    return LogClient(open_store(str(log.root)), log.vkey).entry(300).to_bundle(), log.vkey


@settings(max_examples=200, deadline=None)
@given(part=st.sampled_from(["entry", "proof", "index", "text"]), bit=st.integers(0, 1 << 16))
def test_any_flipped_bit_fails(real_bundle: tuple[ProofBundle, str], part: str, bit: int) -> None:
    from tlog.client import verify_bundle
    from tlog.errors import VerificationError

    b, vkey = real_bundle
    assert verify_bundle(b, vkey).index == 300

    def flip(data: bytes) -> bytes:
        i = bit % (8 * len(data))
        out = bytearray(data)
        out[i // 8] ^= 1 << (i % 8)
        return bytes(out)

    if part == "entry":
        b = ProofBundle(b.index, flip(b.entry or b""), b.proof, b.checkpoint)
    elif part == "proof":
        k = bit % len(b.proof)
        proof = (*b.proof[:k], flip(b.proof[k]), *b.proof[k + 1 :])
        b = ProofBundle(b.index, b.entry, proof, b.checkpoint)
    elif part == "index":
        b = ProofBundle(b.index ^ (1 << (bit % 63)), b.entry, b.proof, b.checkpoint)
    else:  # the signed checkpoint text (signature lines may encode the same bytes two ways)
        text, sep, sigs = b.checkpoint.partition(b"\n\n")
        b = ProofBundle(b.index, b.entry, b.proof, flip(text) + sep + sigs)
    with pytest.raises(VerificationError):
        verify_bundle(b, vkey)
