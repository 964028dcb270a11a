"""End to end through the CLI: keygen → init → 1,000 submissions of all three types (some
invalid, some duplicates) → sequence → every admitted entry proven included."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from submissions import dsse_doc, ed25519_key, hashedrekord_doc, link_doc

from tlog.client import LogClient
from tlog.entries import canonical_json, decode_entry
from tlog.storage import open_store

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _pem(key: object) -> str:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _docs() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(valid, invalid, duplicates-with-another-submission-id)."""
    ed = [ed25519_key(i) for i in range(3)]
    p256, rsa_key = ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)
    valid = []
    for i in range(900):
        art = b"release %d" % i
        digest = hashlib.sha256(art).digest()
        if i % 3 == 0:
            sig = p256.sign(art, ec.ECDSA(hashes.SHA256()))
            pem = _pem(p256)
        elif i % 3 == 1 and i < 150:
            sig = rsa_key.sign(art, padding.PKCS1v15(), hashes.SHA256())
            pem = _pem(rsa_key)
        elif i % 10 == 5 and i >= 100:  # an in-toto attestation in a DSSE envelope
            valid.append(dsse_doc(ed[i % 3], art))
            continue
        elif i % 10 == 8 and i >= 100:  # an in-toto link
            valid.append(link_doc(ed[(i + 1) % 3], art, i))
            continue
        else:
            key, pem = ed[i % 3]
            valid.append(hashedrekord_doc(key, pem, art))
            continue
        valid.append(json.dumps({"type": "hashedrekord", "digest": "sha256:" + digest.hex(),
                                 "signature": base64.b64encode(sig).decode(),
                                 "public_key": pem}).encode())
    invalid = []
    for i in range(60):
        d = json.loads(valid[i])
        if i % 3 == 0:
            d["signature"] = json.loads(valid[i + 1])["signature"]
        elif i % 3 == 1:
            d["digest"] = "sha256:" + "00" * 32
        else:
            d["type"] = "no-such-type"
        invalid.append(json.dumps(d).encode())
    dupes = []
    for i in range(40):  # same entry, differently formatted key: another submission id
        d = json.loads(valid[i])
        d["public_key"] = d["public_key"] + "\n"
        dupes.append(json.dumps(d).encode())
    return valid, invalid, dupes


def test_thousand_mixed_submissions_end_to_end(tmp_path: Path) -> None:
    assert tlog(tmp_path, "keygen", "e2e.example/log", "--out", "log").returncode == 0
    res = tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin",
               "e2e.example/log", "--key", "log.key")
    assert res.returncode == 0, res.stderr
    valid, invalid, dupes = _docs()
    # Valid ones through `tlog submit --jsonl`; invalid ones straight into the queue, as a
    # careless client with bucket access would (the CLI refuses them).
    (tmp_path / "valid.jsonl").write_bytes(b"\n".join(valid))
    res = tlog(tmp_path, "submit", "--queue", "queue", "--jsonl", "valid.jsonl", "--json")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == 900
    queue = open_store(str(tmp_path / "queue"))
    for d in invalid + dupes:
        sid = hashlib.sha256(canonical_json(json.loads(d))).hexdigest()
        queue.put(f"pending/{sid}.json", d)
    res = tlog(tmp_path, "sequence", "--config", "tlog.toml", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["admitted"], summary["rejected"], summary["duplicates"]) == (900, 60, 40)
    # Every admitted entry is proven included, from the store alone.
    vkey = (tmp_path / "log.pub").read_text().strip()
    client = LogClient(open_store(str(tmp_path / "public")), vkey)
    leaves: set[bytes] = set()
    kinds: dict[str, int] = {}
    for i in range(900):
        entry = client.entry(i)
        leaves.add(entry.leaf_hash)
        kind = decode_entry(entry.entry)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    assert len(leaves) == 900
    assert kinds == {"hashedrekord": 798, "dsse": 51, "intoto-link": 51}
    # Rejections are stored with a one-line reason naming the field.
    reasons = [json.loads(queue.get(k))["reason"] for k in queue.list("rejected/")]
    assert len(reasons) == 60
    # A swapped signature: "does not verify", or for an RSA signature under an ECDSA key
    # "must be ASN.1 DER"; a wrong digest: "does not verify". Each names the field.
    assert sum(r.startswith("hashedrekord.signature: ") for r in reasons) == 40
    assert sum("does not verify with the given public key" in r for r in reasons) >= 20
    assert sum(r.startswith('type: unknown entry type "no-such-type"') for r in reasons) == 20
    assert list(queue.list("pending/")) == []
    # Resubmitting an included entry later is a duplicate, across runs.
    sid = hashlib.sha256(canonical_json(json.loads(valid[5]))).hexdigest()
    queue.put(f"pending/{sid}.json", valid[5])
    res = tlog(tmp_path, "sequence", "--config", "tlog.toml", "--json")
    again = json.loads(res.stdout.strip().splitlines()[-1])
    assert (again["admitted"], again["duplicates"], again["size"]) == (0, 1, 900)


def test_watch_mode_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    assert tlog(tmp_path, "keygen", "watch.example/log", "--out", "log").returncode == 0
    assert tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin",
                "watch.example/log", "--key", "log.key").returncode == 0
    proc = subprocess.Popen([str(BIN / "tlog"), "sequence", "--watch", "--interval", "0.2",
                             "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        queue = open_store(str(tmp_path / "queue"))
        key, pem = ed25519_key(1)
        for i in range(5):
            doc = hashedrekord_doc(key, pem, b"watched %d" % i)
            queue.put(f"pending/{hashlib.sha256(doc).hexdigest()}.json", doc)
        deadline = time.monotonic() + 60
        store = open_store(str(tmp_path / "public"))
        while time.monotonic() < deadline and b"\n5\n" not in store.get("checkpoint"):
            time.sleep(0.2)
        assert b"\n5\n" in store.get("checkpoint")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert os.path.exists(tmp_path / "public" / "index.html")
    assert any(json.loads(line)["size"] == 5 for line in out.splitlines())
