"""Every parser of untrusted bytes raises only the project's typed errors, whatever the input
(issue 18 item 3): deep nesting (where json.loads raises RecursionError), 1 MiB of noise,
bytes that are not UTF-8. Each parser is named, so a new one is added here by name."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tlog import bundle, checkpoint, cosignature, index, note, tiles, witness_protocol
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
    "bundle.parse_tlog_proof": bundle.parse_tlog_proof,
    "bundle.parse_any_bundle": bundle.parse_any_bundle,
    "witness_protocol.parse_size": witness_protocol.parse_size,
    "note.parse_vkey": lambda b: note.parse_vkey(b.decode("utf-8", "replace")),
    "cosignature.parse_any_verifier": lambda b: cosignature.parse_any_verifier(
        b.decode("utf-8", "replace")),
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



def _client_config(path: str) -> object:
    import os

    from tlog.cli.options import client_defaults

    os.environ["TLOG_CLIENT_CONFIG"] = path
    try:
        return client_defaults()
    finally:
        del os.environ["TLOG_CLIENT_CONFIG"]


def _config_readers() -> dict[str, Callable[[str], Any]]:
    from sequencer.config import load_config as log_config
    from witness.cli import load_config as witness_config

    return {"sequencer.config.load_config": log_config,
            "witness.cli.load_config": witness_config,
            "client_options.client_defaults": _client_config}


CONFIG_INPUTS = {
    "deep arrays": b"a = " + b"[" * 100_000 + b"]" * 100_000,
    "deep inline tables": b"a = " + b"{b = " * 50_000 + b"1" + b"}" * 50_000,
    "1 MiB of noise": _rng.randbytes(1 << 20),
    "not UTF-8": b"origin = \"\xff\xfe\"\n",
    "2 MiB of comments": b"#" * (2 << 20) + b"\n",
    "wrong types": b"origin = 1\nstore = [1]\nkey_file = 2\nstate = {}\nlog = 3\n",
}


@pytest.mark.parametrize("reader", ["sequencer.config.load_config", "witness.cli.load_config",
                                    "client_options.client_defaults"])
@pytest.mark.parametrize("data", sorted(CONFIG_INPUTS))
def test_configs_only_typed_errors(reader: str, data: str, tmp_path: Any) -> None:
    # Configs are files people edit and tools generate: whatever they hold, the error is a
    # ConfigError that names the file (the CLI prints it as one line, exit 2).
    path = tmp_path / "config.toml"
    path.write_bytes(CONFIG_INPUTS[data])
    with pytest.raises(TlogError) as e:
        _config_readers()[reader](str(path))
    assert str(path) in str(e.value)
