"""The README's first command: a whole log lifecycle in ./demo-log, through the real `tlog` CLI.

keygen → init (a local folder log) → sign sample artifacts as a maintainer → submit (flags,
bulk JSONL, a DSSE attestation and an in-toto link, plus one bad signature and one duplicate)
→ sequence → serve the folder over HTTP on loopback → verify inclusion over HTTP (artifact and
attestation) → search by digest → write a proof bundle and verify it offline → build the
static site. Every step is a real command; the script stops at the first failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo-log"
BIN = Path(sys.executable).parent
ORIGIN = "demo.tiledlog.example/log"


def tlog(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "tlog"), *args]
    print("$ tlog " + " ".join(args), flush=True)
    res = subprocess.run(cmd, cwd=DEMO, text=True, capture_output=True)
    out = (res.stdout + res.stderr).strip()
    if out:
        print("  " + out.replace("\n", "\n  ")[:1500])
    if check and res.returncode != 0:
        sys.exit(f"demo failed: tlog {args[0]} exited {res.returncode}")
    return res


def make_artifacts(n: int) -> tuple[list[Path], Path, ec.EllipticCurvePrivateKey]:
    """A maintainer's P-256 key and n signed release artifacts (like `cosign sign-blob`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = DEMO / "maintainer.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    arts = []
    for i in range(n):
        art = DEMO / "artifacts" / f"demo-tool-1.{i}.0.tar.gz"
        art.parent.mkdir(exist_ok=True)
        art.write_bytes(hashlib.sha256(b"demo artifact %d" % i).digest() * 64)
        sig = key.sign(art.read_bytes(), ec.ECDSA(hashes.SHA256()))
        art.with_name(art.name + ".sig").write_bytes(base64.b64encode(sig) + b"\n")
        arts.append(art)
    return arts, pub, key


def write_attestations(arts: list[Path], key: ec.EllipticCurvePrivateKey) -> None:
    """A SLSA provenance statement in a DSSE envelope, and an in-toto link for packaging."""
    from tlog.entries.dsse import pae
    from tlog.entries.intoto_link import sslib_canonical

    subjects = [{"name": a.name, "digest": {"sha256": hashlib.sha256(a.read_bytes()).hexdigest()}}
                for a in arts[:2]]
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": subjects,
                            "predicateType": "https://slsa.dev/provenance/v1",
                            "predicate": {"buildDefinition": {"buildType": "demo"}}}).encode()
    ptype = "application/vnd.in-toto+json"
    sig = key.sign(pae(ptype, statement), ec.ECDSA(hashes.SHA256()))
    (DEMO / "provenance.intoto.json").write_text(json.dumps({
        "payloadType": ptype, "payload": base64.b64encode(statement).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}, indent=2))
    signed = {"_type": "link", "name": "package", "command": ["tar", "czf", arts[2].name],
              "materials": {}, "byproducts": {}, "environment": {},
              "products": {arts[2].name: {
                  "sha256": hashlib.sha256(arts[2].read_bytes()).hexdigest()}}}
    link_sig = key.sign(sslib_canonical(signed), ec.ECDSA(hashes.SHA256())).hex()
    (DEMO / "package.link").write_text(json.dumps(
        {"signed": signed, "signatures": [{"keyid": "", "sig": link_sig}]}, indent=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    os.environ["TLOG_STATE_DIR"] = str(DEMO / "client-state")
    tlog("keygen", ORIGIN, "--out", "log")
    tlog("init", "--store", "public", "--queue", "queue", "--origin", ORIGIN, "--key", "log.key")
    arts, _, key = make_artifacts(12)
    # One by one, from flags, as a release workflow would.
    for art in arts[:8]:
        tlog("submit", "--queue", "queue", "--artifact", str(art.relative_to(DEMO)),
             "--signature", str(art.relative_to(DEMO)) + ".sig", "--public-key", "maintainer.pub")
    # Bulk import: one JSONL file of submission documents (one queue object for all of them).
    lines = []
    for art in arts[8:]:
        lines.append(json.dumps({
            "type": "hashedrekord",
            "digest": "sha256:" + hashlib.sha256(art.read_bytes()).hexdigest(),
            "signature": art.with_name(art.name + ".sig").read_text().strip(),
            "public_key": (DEMO / "maintainer.pub").read_text()}))
    (DEMO / "bulk.jsonl").write_text("\n".join(lines) + "\n")
    tlog("submit", "--queue", "queue", "--jsonl", "bulk.jsonl")
    # An in-toto attestation (DSSE envelope) and an in-toto link, signed by the build system.
    write_attestations(arts, key)
    tlog("submit", "--queue", "queue", "--dsse", "provenance.intoto.json",
         "--public-key", "maintainer.pub")
    tlog("submit", "--queue", "queue", "--link", "package.link", "--public-key", "maintainer.pub")
    # A submission whose signature does not verify is refused before it reaches the queue.
    bad = tlog("submit", "--queue", "queue", "--artifact", str(arts[0].relative_to(DEMO)),
               "--signature", str(arts[1].relative_to(DEMO)) + ".sig",
               "--public-key", "maintainer.pub", check=False)
    if bad.returncode == 0:
        sys.exit("demo failed: a wrong signature was accepted")
    # Resubmitting is idempotent (same id), and sequencing dedups it anyway.
    tlog("submit", "--queue", "queue", "--artifact", str(arts[0].relative_to(DEMO)),
         "--signature", str(arts[0].relative_to(DEMO)) + ".sig", "--public-key", "maintainer.pub")
    res = tlog("sequence", "--config", "tlog.toml", "--json")
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    if summary["size"] != len(arts) + 2:
        sys.exit(f"demo failed: expected {len(arts) + 2} entries, log has {summary['size']}")
    vkey = (DEMO / "log.pub").read_text().strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(DEMO / "public")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        art = arts[3]
        tlog("verify", "--log", url, "--vkey", vkey, "--artifact", str(art.relative_to(DEMO)),
             "--signature", str(art.relative_to(DEMO)) + ".sig", "--public-key", "maintainer.pub")
        tlog("verify", "--log", url, "--vkey", vkey, "--dsse", "provenance.intoto.json",
             "--public-key", "maintainer.pub")
        tlog("search", "--log", url, "--vkey", vkey, "--digest",
             "sha256:" + hashlib.sha256(arts[2].read_bytes()).hexdigest())
        tlog("bundle", "--log", url, "--vkey", vkey, "--index", "3", "-o", "entry3.bundle.json")
        tlog("consistency", "--log", url, "--vkey", vkey)
    finally:
        server.terminate()
        server.wait()
    tlog("verify", "--vkey", vkey, "--bundle", "entry3.bundle.json")
    tlog("site", "build", "--config", "tlog.toml")
    print(f"\nDemo log ready in {DEMO}: {summary['size']} entries, root {summary['root']}.")
    print(f"Browse it: python -m http.server --directory {DEMO / 'public'} and open /index.html"
          " (search.html finds entries by digest, key or identity; entry.html?index=N verifies"
          " one; every page checks what it shows in the browser)")


if __name__ == "__main__":
    main()
