"""`tlog submit` → `tlog sequence` → `tlog verify`/`tlog search` for every entry type, through
the installed command in fresh processes, and a plugin type installed beside the package."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from signers import signer
from test_entries import ARTIFACT, LINK_SIGNED, envelope, link

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout


def _new_log(tmp: Path, env: dict[str, str] | None = None) -> str:
    _ok(tlog(tmp, "keygen", "types.example/log", "--out", "log", env=env))
    _ok(tlog(tmp, "init", "--store", "public", "--queue", "queue", "--origin",
             "types.example/log", "--key", "log.key", env=env))
    return (tmp / "log.pub").read_text().strip()


def _write_inputs(tmp: Path) -> None:
    ed, ec, rsa = signer("ed25519"), signer("ecdsa-p256"), signer("rsa-pss")
    (tmp / "app.tgz").write_bytes(ARTIFACT)
    (tmp / "app.sig").write_bytes(base64.b64encode(ec.sign_artifact(ARTIFACT)))
    (tmp / "ec.pub").write_text(ec.pem())
    (tmp / "ed.pub").write_text(ed.pem())
    (tmp / "rsa.pub").write_text(rsa.pem())
    (tmp / "att.json").write_text(json.dumps(envelope([ed])))
    (tmp / "package.link").write_text(json.dumps(link([rsa]), indent=1))


def test_every_type_from_flags_to_verified_inclusion(tmp_path: Path) -> None:
    vkey = _new_log(tmp_path)
    _write_inputs(tmp_path)
    receipts = [
        json.loads(_ok(tlog(tmp_path, "submit", "--queue", "queue", *flags, "--json")))[0]
        for flags in (
            ("--artifact", "app.tgz", "--signature", "app.sig", "--public-key", "ec.pub"),
            ("--dsse", "att.json", "--public-key", "ed.pub"),
            ("--link", "package.link", "--public-key", "rsa.pub"),
        )
    ]
    assert [r["type"] for r in receipts] == ["hashedrekord", "dsse", "intoto-link"]
    # Resubmitting is idempotent: the same id, and one queue object.
    (again,) = json.loads(_ok(tlog(tmp_path, "submit", "--queue", "queue", "--dsse",
                                   "att.json", "--public-key", "ed.pub", "--json")))
    assert again["submission_id"] == receipts[1]["submission_id"]
    assert len(list((tmp_path / "queue" / "pending").iterdir())) == 3

    summary = json.loads(_ok(tlog(tmp_path, "sequence", "--config", "tlog.toml",
                                  "--json")).splitlines()[-1])
    assert (summary["admitted"], summary["size"]) == (3, 3)

    base = ("--log", "public", "--vkey", vkey, "--state", "trust")
    for flags in (("--artifact", "app.tgz", "--signature", "app.sig", "--public-key", "ec.pub"),
                  ("--dsse", "att.json", "--public-key", "ed.pub"),
                  ("--link", "package.link", "--public-key", "rsa.pub")):
        out = _ok(tlog(tmp_path, "verify", *base, *flags))
        assert "verified" in out.lower()
    # Each receipt's leaf hash is what the log holds.
    for r in receipts:
        got = json.loads(_ok(tlog(tmp_path, "get", *base, "--entry-hash", r["leaf_hash"],
                                  "--json")))
        assert got["leaf_hash"] == r["leaf_hash"]
    # The artifact's digest finds its signature and the link that produced it.
    digest = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
    found = json.loads(_ok(tlog(tmp_path, "search", "--log", "public", "--vkey", vkey,
                                "--digest", digest, "--json", "--cache-dir", "cache")))
    assert {e["leaf_hash"] for e in found["matches"]} == {
        receipts[0]["leaf_hash"], receipts[2]["leaf_hash"]}


def test_bad_submissions_fail_with_one_line_naming_the_field(tmp_path: Path) -> None:
    _new_log(tmp_path)
    _write_inputs(tmp_path)
    (tmp_path / "other.tgz").write_bytes(b"not the artifact")
    cases = {
        ("--artifact", "other.tgz", "--signature", "app.sig", "--public-key", "ec.pub"):
            "hashedrekord.signature: does not verify with the given public key",
        ("--dsse", "att.json", "--public-key", "rsa.pub"):
            "dsse.envelope.signatures[0]: does not verify with any of the given keys",
        ("--link", "package.link", "--public-key", "ed.pub"):
            "intoto-link.link.signatures[0]: does not verify with any of the given public keys",
        ("--dsse", "app.tgz", "--public-key", "ed.pub"): "--dsse: not a JSON file",
        ("--artifact", "app.tgz", "--signature", "app.sig"): "--signature and one --public-key",
    }
    for flags, message in cases.items():
        res = tlog(tmp_path, "submit", "--queue", "queue", *flags)
        assert res.returncode != 0
        assert message in res.stderr, (flags, res.stderr)
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) <= 3  # click usage lines at most
    assert not (tmp_path / "queue" / "pending").exists() or not list(
        (tmp_path / "queue" / "pending").iterdir())


PLUGIN = '''
"""A plugin entry type: a line of text signed with Ed25519 (the tests' example)."""
import base64, hashlib, json
from cryptography.hazmat.primitives import serialization
from tlog.errors import MalformedError, VerificationError

class Stamp:
    name = kind = "stamp"
    api_version = "0.0.1"

    def parse(self, doc):
        text = doc.get("text")
        if not isinstance(text, str) or not text:
            raise MalformedError("expected a non-empty string", field="stamp.text")
        try:
            key = serialization.load_pem_public_key(doc["public_key"].encode())
            sig = base64.b64decode(doc["signature"], validate=True)
        except (KeyError, ValueError, TypeError) as e:
            raise MalformedError("expected a PEM key and a base64 signature",
                                 field="stamp.public_key") from e
        return text, key, sig

    def verify(self, parsed):
        text, key, sig = parsed
        try:
            key.verify(sig, text.encode())
        except Exception as e:
            raise VerificationError("stamp.signature: does not verify") from e

    def canonical(self, parsed):
        text, key, _ = parsed
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        spec = {"key": hashlib.sha256(der).hexdigest(), "text": text}
        return json.dumps({"apiVersion": "0.0.1", "kind": "stamp", "spec": spec},
                          separators=(",", ":"), sort_keys=True).encode()

    def search_keys(self, entry):
        spec = json.loads(entry)["spec"]
        return ["sha256:" + hashlib.sha256(spec["text"].encode()).hexdigest(),
                "key:" + spec["key"]]

    def describe(self, entry):
        spec = json.loads(entry)["spec"]
        return {"type": "stamp", "digests": self.search_keys(entry)[:1],
                "key_fingerprints": [spec["key"]], "text": spec["text"]}

TYPE = Stamp()
'''


def _install_plugin(site: Path, source: str = PLUGIN) -> dict[str, str]:
    """Install the plugin as a distribution on a path entry: a module and its .dist-info
    with an entry point in ``tiledlog.types`` (what ``pip install`` leaves on disk)."""
    site.mkdir()
    (site / "tl_stamp.py").write_text(textwrap.dedent(source))
    info = site / "tl_stamp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tl-stamp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tiledlog.types]\nstamp = tl_stamp:TYPE\n")
    return {"PYTHONPATH": str(site)}


def test_plugin_type_end_to_end(tmp_path: Path) -> None:
    env = _install_plugin(tmp_path / "site")
    vkey = _new_log(tmp_path, env)
    ed = signer("ed25519")
    text = "tiledlog 1.2.3 was built from commit 8f3a9c1"
    doc = {"type": "stamp", "text": text, "public_key": ed.pem(),
           "signature": base64.b64encode(ed.key.sign(text.encode())).decode()}  # type: ignore[attr-defined]
    (tmp_path / "stamp.json").write_text(json.dumps(doc))
    (receipt,) = json.loads(_ok(tlog(tmp_path, "submit", "--queue", "queue", "stamp.json",
                                     "--json", env=env)))
    assert receipt["type"] == "stamp"
    bad = {**doc, "text": "tiledlog 6.6.6"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = tlog(tmp_path, "submit", "--queue", "queue", "bad.json", env=env)
    assert res.returncode != 0 and "stamp.signature: does not verify" in res.stderr
    # Without the plugin the type is unknown, and the error lists what is known.
    res = tlog(tmp_path, "submit", "--queue", "queue", "stamp.json")
    assert res.returncode != 0
    assert ('type: unknown entry type "stamp" (known: dsse, hashedrekord, intoto-link, '
            'signature)') in res.stderr

    summary = json.loads(_ok(tlog(tmp_path, "sequence", "--config", "tlog.toml", "--json",
                                  env=env)).splitlines()[-1])
    assert (summary["admitted"], summary["size"]) == (1, 1)
    got = json.loads(_ok(tlog(tmp_path, "get", "--log", "public", "--vkey", vkey, "--state",
                              "trust", "--index", "0", "--json", env=env)))
    assert got["leaf_hash"] == receipt["leaf_hash"]
    found = json.loads(_ok(tlog(
        tmp_path, "search", "--log", "public", "--vkey", vkey, "--cache-dir", "cache", "--json",
        "--digest", "sha256:" + hashlib.sha256(text.encode()).hexdigest(), env=env)))
    assert [e["index"] for e in found["matches"]] == [0]
    # A plugin without verify_entry: a monitor re-verifies nothing of it but its encoding,
    # and says so (it counted it among the entries checked, "their key checked").
    res = tlog(tmp_path, "monitor", "--log", "public", "--vkey", vkey, "--state", "mon", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[-1] == (
        "checked 0 new entries up to size 1; 1 more not re-verified: of types this "
        "installation cannot check (only their encoding, if their plugin is installed)")


@pytest.mark.parametrize(("claim", "what"), [
    ('name = kind = "stamp"\n    api_version = "0.0.1"',
     None),
    ('name = "stamp"\n    kind = "hashedrekord"\n    api_version = "0.0.2"',
     "claims type 'stamp' (kind 'hashedrekord', apiVersion '0.0.2'), which built-in "
     "tlog.entries.hashedrekord:TYPE already has"),
    ('name = "hashedrekord"\n    kind = "stamp"\n    api_version = "0.0.1"',
     "claims type 'hashedrekord' (kind 'stamp', apiVersion '0.0.1'), which built-in "
     "tlog.entries.hashedrekord:TYPE already has"),
])
def test_a_plugin_cannot_take_over_a_built_in_type(tmp_path: Path, claim: str,
                                                   what: str | None) -> None:
    """Issue 18 item 4: a plugin claiming a built-in's name or entry kind would decide how
    every logged hashedrekord entry is read, searched and re-verified: refused, naming both."""
    source = PLUGIN.replace('name = kind = "stamp"\n    api_version = "0.0.1"', claim)
    env = _install_plugin(tmp_path / "site", source)
    _write_inputs(tmp_path)
    res = tlog(tmp_path, "submit", "--queue", "queue", "--artifact", "app.tgz",
               "--signature", "app.sig", "--public-key", "ec.pub", env=env)
    if what is None:  # the honest plugin beside the built-ins: hashedrekord still works
        assert res.returncode == 0, res.stderr
        return
    assert res.returncode == 2, res.stderr
    assert what in res.stderr and "plugin stamp (tl_stamp:TYPE)" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("field", ["signed", "signatures"])
def test_link_file_missing_parts(tmp_path: Path, field: str) -> None:
    _write_inputs(tmp_path)
    data = json.loads((tmp_path / "package.link").read_text())
    del data[field]
    (tmp_path / "broken.link").write_text(json.dumps(data))
    res = tlog(tmp_path, "submit", "--queue", "queue", "--link", "broken.link",
               "--public-key", "rsa.pub")
    assert res.returncode != 0 and f"intoto-link.link.{field}: missing" in res.stderr
    assert LINK_SIGNED["name"] == "package"


def test_bulk_objects_are_bounded_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many submissions go into bulk objects of at most BULK_MAX lines and about BULK_BYTES,
    so that the sequencer never has to hold one huge object; each receipt names the object
    that holds its submission."""
    from submissions import hashedrekord_docs

    from tlog import queue as tqueue
    from tlog.client.submit import queue_documents
    from tlog.storage import open_store

    docs = [(f"doc{i}", d) for i, (_, d) in enumerate(hashedrekord_docs(40, seed=4))]
    one = max(len(d) for _, d in docs)
    monkeypatch.setattr(tqueue, "BULK_BYTES", 5 * one)
    store = open_store(str(tmp_path / "queue"))
    receipts = queue_documents(store, docs, workers=1)
    keys = list(store.list("pending/"))
    assert len(keys) >= 8  # 40 documents, at most 5 per object by size
    held: dict[str, list[bytes]] = {}
    for key in keys:
        body = store.get(key)
        assert len(body) <= 5 * one + 5  # lines and their newlines
        lines = body.split(b"\n")[:-1]
        assert tqueue.queued_count(key) == len(lines)
        held[key] = lines
    for r, (_, doc) in zip(receipts, docs, strict=True):
        lines = held[r["queue_object"]]
        assert json.loads(doc) in [json.loads(x) for x in lines]
