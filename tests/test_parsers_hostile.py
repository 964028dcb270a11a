"""Every parser of untrusted bytes raises only the project's typed errors, whatever the input
(issue 18 item 3): deep nesting (where json.loads raises RecursionError), 1 MiB of noise,
bytes that are not UTF-8. Each parser is named, so a new one is added here by name."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tlog import bundle, checkpoint, index, note, tiles, witness_protocol
from tlog.entries import decode_entry, load_document, verify_entry
from tlog.errors import TlogError

PARSERS: dict[str, Callable[[bytes], Any]] = {
    "index.parse_manifest": index.parse_manifest,
    "note.open_note": lambda b: note.open_note(b, []),
    "checkpoint.parse_checkpoint": lambda b: checkpoint.parse_checkpoint(
        b.decode("utf-8", "replace")),
    "tiles.decode_entry_bundle": lambda b: tiles.decode_entry_bundle(b, 256),
    "tiles.parse_tile_path": lambda b: tiles.parse_tile_path(b.decode("utf-8", "replace")),
    "entries.load_document": load_document,
    "entries.decode_entry": decode_entry,
    "entries.verify_entry": verify_entry,
    "witness_protocol.parse_add_checkpoint": witness_protocol.parse_add_checkpoint,
    "bundle.parse_bundle": bundle.parse_bundle,
}
_rng = random.Random(18)
INPUTS = {
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 100_000,
    "deep in a field": b'{"version": 1, "shards": ' + b"[" * 50_000,
    "1 MiB of noise": _rng.randbytes(1 << 20),
    "not UTF-8": b"\xff\xfe" * 1000,
    "empty": b"",
    "a note of 1 MiB": b"origin\n" + b"x" * (1 << 20) + b"\n\n\xe2\x80\x94 a b\n",
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("data", sorted(INPUTS))
def test_only_typed_errors(parser: str, data: str) -> None:
    # None of these inputs is valid anywhere: each parser refuses it, in the one family a
    # caller handles (any other exception fails the test as it would crash the caller).
    with pytest.raises(TlogError):
        PARSERS[parser](INPUTS[data])

