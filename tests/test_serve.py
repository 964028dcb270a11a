"""`tlog serve` as a Rekor v2 write endpoint (issue 19 item 3), driven by sigstore-python's own
Rekor v2 client: the answer is the entry in a published, witnessed checkpoint, and the bundle
built from it verifies; duplicates, bad requests, floods and oversized bodies get Rekor v2's
answers; three frontends on one moto S3 store log every answered entry exactly once."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from rfc3161_client import decode_timestamp_response
from sigstore._internal.rekor import RekorClientError
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm, MessageSignature

from tests.servers import S3_CREDENTIALS, free_port, wait_for_port, witness_server
from tests.sigstore_pki import ISSUER, OpenSSLTimestampAuthority, PrivateSigstore
from tests.test_cli_json import check
from tlog.client.sigstore import request_timestamp

BIN = Path(sys.executable).parent
HOST = "log.serve.test"


def tlog(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=120, env={**os.environ, **(env or {})})
    assert res.returncode == 0, res.stderr
    return res.stdout


@contextlib.contextmanager
def serving(cwd: Path, *args: str, env: dict[str, str] | None = None,
            log: Path | None = None) -> Iterator[str]:
    port = free_port()
    log = log or cwd / f"serve-{port}.log"
    out = open(log, "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(BIN / "tlog"), "serve", "--listen", f"127.0.0.1:{port}",
                             *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)  # uvicorn re-raises the signal once it has shut down
        out.close()
        text = log.read_text()
        assert "stopped at a batch boundary" in text
        assert "Warning" not in text, text  # a StarletteDeprecationWarning was printed


def _request(key: Any, cert: Any, artifact: bytes) -> dict[str, Any]:
    sig = key.sign(artifact, ec.ECDSA(hashes.SHA256()))
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(artifact).digest())
    return RekorV2Client._build_hashed_rekord_request(hashed, sig, cert), sig


@pytest.fixture(scope="module")
def witnessed_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A Sigstore-compatible folder log with a witness on loopback, served by `tlog serve`."""
    work = tmp_path_factory.mktemp("serve")
    pki = PrivateSigstore.create(work / "pki")
    tlog(work, "keygen", HOST, "--out", "log")
    tlog(work, "init", "--store", "public", "--origin", HOST, "--key", "log.key",
         "--public-url", f"https://{HOST}")
    wdir = work / "witness"
    wdir.mkdir()
    tlog(wdir, "witness", "keygen", "witness.serve.test/w1", "--out", "key")
    tlog(wdir, "witness", "add-log", "--origin", HOST, "--vkey", str(work / "log.pub"))
    p = pki.folder
    tlog(work, "trusted-root", "--vkey", "log.pub", "--base-url", f"https://{HOST}",
         "--ca-chain", str(p / "ca.pem"), "--ctlog-key", str(p / "ctfe.pub"),
         "--tsa-chain", str(p / "tsa-chain.pem"), "-o", "trusted_root.json")
    with witness_server(wdir / "witness.toml") as wurl, OpenSSLTimestampAuthority(pki) as tsa:
        tlog(work, "config", "add-witness", "--url", wurl, "--vkey", str(wdir / "key.pub"),
             "--threshold", "1", "--require")
        with serving(work, "--serve-files", log=work / "serve.log") as url:
            yield {"work": work, "pki": pki, "url": url, "tsa": tsa}


def test_sigstore_pythons_rekor_v2_client_logs_an_entry_and_it_verifies(
        witnessed_log: dict[str, Any]) -> None:
    work, pki = witnessed_log["work"], witnessed_log["pki"]
    key, cert = pki.leaf("serve@example.com")
    artifact = b"served artifact\n"
    request, sig = _request(key, cert, artifact)
    entry = RekorV2Client(witnessed_log["url"]).create_entry(request)
    inner = entry._inner
    assert inner.kind_version.kind == "hashedrekord" and inner.kind_version.version == "0.0.2"
    note = inner.inclusion_proof.checkpoint.envelope
    assert "\u2014 witness.serve.test/w1 " in note  # published only once witnessed
    tsr = decode_timestamp_response(request_timestamp(witnessed_log["tsa"].url, sig))
    bundle = Bundle._from_parts(cert, MessageSignature(signature=base64.b64encode(sig)), entry,
                                signed_timestamp=[tsr])
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(work / "trusted_root.json")))
    verifier.verify_artifact(artifact, bundle, Identity(identity="serve@example.com",
                                                        issuer=ISSUER))
    # the served files are the log: its checkpoint is the one in the answer, or newer
    served = requests.get(f"{witnessed_log['url']}/checkpoint", timeout=10)
    assert served.status_code == 200 and int(served.text.split("\n")[1]) >= int(
        inner.inclusion_proof.tree_size)


def test_a_duplicate_answers_409_with_its_index(witnessed_log: dict[str, Any]) -> None:
    key, cert = witnessed_log["pki"].leaf("dup@example.com")
    request, _ = _request(key, cert, b"logged twice\n")
    url = f"{witnessed_log['url']}/api/v2/log/entries"
    first = requests.post(url, json=request, timeout=60)
    assert first.status_code == 201, first.text
    index = first.json()["logIndex"]
    again = requests.post(url, json=request, timeout=60)
    assert again.status_code == 409
    assert again.headers["x-log-index"] == index and index in again.json()["message"]
    with pytest.raises(RekorClientError):
        RekorV2Client(witnessed_log["url"]).create_entry(request)


def test_bad_requests_say_what_is_wrong(witnessed_log: dict[str, Any]) -> None:
    url = f"{witnessed_log['url']}/api/v2/log/entries"
    key, cert = witnessed_log["pki"].leaf("bad@example.com")
    request, _ = _request(key, cert, b"artifact\n")
    wrong = json.loads(json.dumps(request))
    wrong["hashedRekordRequestV002"]["digest"] = base64.b64encode(
        hashlib.sha256(b"other\n").digest()).decode()
    res = requests.post(url, json=wrong, timeout=30)
    assert res.status_code == 400 and "does not verify" in res.json()["message"]

    ed = ed25519.Ed25519PrivateKey.generate()
    digest = hashlib.sha256(b"artifact\n").digest()
    pure = {"hashedRekordRequestV002": {
        "digest": base64.b64encode(digest).decode(),
        "signature": {"content": base64.b64encode(ed.sign(digest)).decode(), "verifier": {
            "publicKey": {"rawBytes": base64.b64encode(ed.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo)).decode()},
            "keyDetails": "PKIX_ED25519"}}}}
    res = requests.post(url, json=pure, timeout=30)
    assert res.status_code == 400 and "Ed25519ph" in res.json()["message"]
    res = requests.post(url, data=b"{" * 200_000, timeout=30)
    assert res.status_code == 413
    res = requests.post(url, data=b"not json", timeout=30)
    assert res.status_code == 400 and "not a JSON document" in res.json()["message"]
    health = requests.get(f"{witnessed_log['url']}/healthz", timeout=10).json()
    assert health["ok"] is True and health["origin"] == HOST


def test_a_flood_from_one_client_is_refused_with_retry_after(tmp_path: Path) -> None:
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    port = free_port()
    proc = subprocess.Popen([str(BIN / "tlog"), "serve", "--listen", f"127.0.0.1:{port}",
                             "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        info = check("serve", proc.stdout.readline())  # the documented start-up line
        assert info["write"] == f"http://127.0.0.1:{port}/api/v2/log/entries"
        assert info["sigstore_compatible"] is False  # no public_url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    with serving(tmp_path, "--rate", "1", "--burst", "2") as url:
        codes = [requests.post(f"{url}/api/v2/log/entries", data=b"{}", timeout=10).status_code
                 for _ in range(4)]
        # Behind a load balancer (here, loopback): each client its own bucket, by the
        # X-Forwarded-For the balancer sets.
        behind = [requests.post(f"{url}/api/v2/log/entries", data=b"{}", timeout=10,
                                headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                  for i in range(4)]
    assert codes[:2] == [400, 400] and 429 in codes[2:]
    assert behind == [400] * 4


def test_a_request_head_that_does_not_come_is_closed(tmp_path: Path) -> None:
    """A client that opens a connection and sends nothing, half a request head, or a head
    and part of its body, is answered 408 and closed after --head-timeout: each was held
    open for as long as it liked, so a few hundred such sockets (a slowloris) used up the
    server's file descriptors. A whole request still passes, and so does one sent slowly
    within the deadline."""
    import socket
    import time

    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    log = tmp_path / "serve.log"
    with serving(tmp_path, "--head-timeout", "1.5", log=log) as url:
        # No public_url: the start-up note says that (it said the hostname did not match).
        assert "Sigstore clients will not verify this log's checkpoints: no public URL" in (
            log.read_text())
        port = int(url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port))
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"POST /api/v2/log/entries HTTP/1.1\r\nHost: x\r\n")
        body = socket.create_connection(("127.0.0.1", port))
        body.sendall(b"POST /api/v2/log/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                     b"\r\n\r\n{")
        slow = socket.create_connection(("127.0.0.1", port))
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            slow.sendall(part)
            time.sleep(0.3)
        started = time.monotonic()

        def until_closed(sock: socket.socket) -> bytes:
            sock.settimeout(10)
            got = b""
            while chunk := sock.recv(4096):
                got += chunk
            sock.close()
            return got

        answers = [until_closed(sock) for sock in (silent, half, body)]
        assert time.monotonic() - started < 5
        assert [a[:12] for a in answers] == [b"HTTP/1.1 408"] * 3, answers
        slow.settimeout(10)
        assert slow.recv(200).startswith(b"HTTP/1.1 200")
        slow.close()
        assert requests.get(f"{url}/healthz", timeout=10).json()["ok"] is True
    # the operator sees them: the two heads that did not come, and the body that did not
    text = log.read_text()
    assert text.count("closed a connection from 127.0.0.1: no whole request head within 1.5 s") \
        == 2, text
    assert '"path": "/api/v2/log/entries", "status": 408' in text, text


def test_a_flood_of_connections_does_not_use_up_the_servers_files(tmp_path: Path) -> None:
    """Under `ulimit -n 200` (the cap on connections, 1024 by default, is then more than the
    process may open), 300 silent sockets are refused beyond what the process can hold
    beside its own files, and the log goes on: the sockets had used up its file descriptors,
    the next sequencing run failed with EMFILE (an OSError, not a TlogError) and its thread
    died; every later request waited 25 s for a 503."""
    import resource
    import socket
    import time

    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "tlog"), "serve", "--listen", f"127.0.0.1:{port}", "--interval", "0.1"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200)))
        try:
            wait_for_port(port)
            flood = []
            for _ in range(300):
                with contextlib.suppress(OSError):
                    flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(3.0)  # sequencing runs every 0.1 s meanwhile
            for sock in flood:
                sock.close()
            time.sleep(0.5)
            after = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    text = log.read_text()
    assert "Too many open files" not in text, text[-2000:]
    assert after.status_code == 200 and after.json()["ok"] is True, (after.text, text[-2000:])


def test_three_frontends_on_one_s3_store_log_each_answered_entry_once(
        tmp_path: Path, s3_bucket: str, s3_env: dict[str, str]) -> None:
    pki = PrivateSigstore.create(tmp_path / "pki")
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", f"s3://{s3_bucket}/log", "--queue",
         f"s3://{s3_bucket}/queue", "--origin", HOST, "--key", "log.key",
         "--endpoint", s3_env["TLOG_S3_ENDPOINT"], env=S3_CREDENTIALS)
    signers = [pki.leaf(f"user{i}@example.com") for i in range(4)]
    requests_ = [_request(*signers[i % 4], f"artifact {i}\n".encode())[0] for i in range(60)]
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serving(tmp_path, "--interval", "0.1", env=S3_CREDENTIALS,
                                            log=tmp_path / f"serve{i}.log"))
                for i in range(3)]

        def send(i: int) -> requests.Response:
            return requests.post(f"{urls[i % 3]}/api/v2/log/entries", json=requests_[i],
                                 timeout=60)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(60)))
    assert [a.status_code for a in answers] == [201] * 60, [a.text for a in answers][:3]
    indexes = sorted(int(a.json()["logIndex"]) for a in answers)
    assert indexes == list(range(60))  # each answered entry once, and nothing else
    bodies = {a.json()["canonicalizedBody"] for a in answers}
    assert len(bodies) == 60
    out = tlog(tmp_path, "get", "--log", f"s3://{s3_bucket}/log", "--vkey", "log.pub",
               "--index", "59", "--json", env={**S3_CREDENTIALS, "TLOG_S3_ENDPOINT":
                                               s3_env["TLOG_S3_ENDPOINT"]})
    assert json.loads(out)["checkpoint"]["size"] == 60


def test_a_frontend_killed_mid_flight_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL one of two frontends while requests are in flight: what it answered is in the
    log, and what it did not answer is logged once when the client retries elsewhere."""
    pki = PrivateSigstore.create(tmp_path / "pki")
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    signer = pki.leaf("kill@example.com")
    reqs = [_request(*signer, f"artifact {i}\n".encode())[0] for i in range(40)]
    port = free_port()
    victim = subprocess.Popen([str(BIN / "tlog"), "serve", "--listen", f"127.0.0.1:{port}",
                               "--interval", "0.3"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for_port(port)
    with serving(tmp_path, "--interval", "0.3") as survivor:
        first_body: dict[int, Any] = {}

        def send(i: int) -> int | None:
            try:
                r = requests.post(f"http://127.0.0.1:{port}/api/v2/log/entries",
                                  json=reqs[i], timeout=30)
            except requests.RequestException:
                return None
            if r.status_code == 201:
                first_body[i] = r.json()
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(40)]
            for f in as_completed(futures):  # killed once it has answered one
                if f.result() == 201:
                    victim.kill()
                    break
            first = [f.result() for f in futures]
        victim.wait(timeout=30)
        answered = [i for i, code in enumerate(first) if code == 201]
        retried = {i: requests.post(f"{survivor}/api/v2/log/entries", json=reqs[i], timeout=60)
                   for i in range(40) if first[i] != 201}
    assert answered and retried, "the kill came before any answer or after every one"
    assert all(r.status_code in (201, 409) for r in retried.values())
    out = json.loads(tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub",
                          "--index", "0-39", "--json", "--state", "trust"))
    assert out["tree_size"] == 40  # every request once, the killed frontend's included
    # Each request's entry is where its answer says: the digest it asked to log is there.
    logged = {v["index"]: v["entry"]["spec"]["hashedRekordV002"]["data"]["digest"]
              for v in out["verified"]}
    where = {i: int(r.headers["x-log-index"]) for i, r in retried.items()}
    where |= {i: int(first_body[i]["logIndex"]) for i in answered}
    assert sorted(where.values()) == list(range(40))
    for i, index in where.items():
        assert logged[index] == reqs[i]["hashedRekordRequestV002"]["digest"], i


def test_a_submission_the_sequencer_rejects_is_answered_with_its_reason(tmp_path: Path) -> None:
    """A frontend admits what its config allows; a sequencer with stricter roots rejects it:
    the client hears the stored reason (400), not a 503 to retry forever."""
    pki, other = PrivateSigstore.create(tmp_path / "pki"), PrivateSigstore.create(tmp_path / "o")
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    strict = tmp_path / "strict.toml"
    strict.write_text((tmp_path / "tlog.toml").read_text()
                      + f'\n[[trust.x509]]\nroots = "{other.folder / "ca.pem"}"\n')
    sequencer = subprocess.Popen([str(BIN / "tlog"), "sequence", "--config", str(strict),
                                  "--watch", "--interval", "0.2"], cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with serving(tmp_path, "--no-sequence", "--interval", "0.2") as url:
            request, _ = _request(*pki.leaf("who@example.com"), b"not for this log\n")
            res = requests.post(f"{url}/api/v2/log/entries", json=request, timeout=60)
    finally:
        sequencer.terminate()
        sequencer.wait(timeout=30)
    assert res.status_code == 400, res.text
    assert "the log rejected it: certificate: does not chain" in res.json()["message"]


def test_two_frontends_on_one_gcs_store(tmp_path: Path, gcs_endpoint: str,
                                        gcs_bucket: str) -> None:
    """As on S3, on fake-gcs-server (which enforces generation preconditions, the lock's
    compare-and-swap): every answered entry is in the log once."""
    pki = PrivateSigstore.create(tmp_path / "pki")
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", f"gs://{gcs_bucket}/log", "--queue",
         f"gs://{gcs_bucket}/queue", "--origin", HOST, "--key", "log.key")
    signer = pki.leaf("gcs@example.com")
    reqs = [_request(*signer, f"gcs artifact {i}\n".encode())[0] for i in range(24)]
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serving(tmp_path, "--interval", "0.1",
                                            log=tmp_path / f"gcs{i}.log")) for i in range(2)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda i: requests.post(f"{urls[i % 2]}/api/v2/log/entries", json=reqs[i],
                                        timeout=60), range(24)))
    assert [a.status_code for a in answers] == [201] * 24, [a.text for a in answers][:3]
    assert sorted(int(a.json()["logIndex"]) for a in answers) == list(range(24))


def test_the_sequencing_thread_outlives_an_oserror(tmp_path: Path) -> None:
    """A sequencing run that fails with an OSError (EMFILE, ENOSPC from a local copy: not a
    TlogError) is retried after a pause, and what is queued afterwards is still logged: the
    thread that sequences for `tlog serve` must not die of it. The fault is injected (the one
    stub here): with the connection cap fitted to the file limit, and as root in CI, no real
    fault reaches this thread as a bare OSError."""
    import asyncio
    import errno

    from sequencer.cli import open_stores
    from sequencer.config import load_config
    from sequencer.frontend import Frontend
    from sequencer.pipeline import Sequencer
    from tests.submissions import hashedrekord_docs

    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    cfg = load_config(str(tmp_path / "tlog.toml"))
    store, queue = open_stores(cfg)
    seq = Sequencer(cfg, store, queue)
    faults = []

    def sequence(should_stop: Any) -> Any:
        if not faults:
            faults.append(1)
            raise OSError(errno.EMFILE, "Too many open files")
        return seq.run(should_stop=should_stop)

    frontend = Frontend(cfg, store, queue, sequence, interval=0.05)

    async def drive() -> int:
        frontend.start()
        try:
            while not faults:
                await asyncio.sleep(0.05)
            for key, doc in hashedrekord_docs(3, seed=7):
                queue.put(key, doc)
            for _ in range(200):  # the retry comes after a pause of 0.1 s
                frontend.wake.set()
                if frontend.client.latest().checkpoint.size == 3:
                    break
                await asyncio.sleep(0.05)
            return frontend.client.latest().checkpoint.size
        finally:
            await asyncio.to_thread(frontend.shutdown)

    assert asyncio.run(drive()) == 3
    assert frontend.stats["runs"] >= 1


def test_a_busy_port_is_one_line_not_a_servers_log(tmp_path: Path) -> None:
    """`tlog serve` and `tlog witness serve` on an address another server holds: one line
    naming --listen, exit 2; it was uvicorn's startup banner, its log lines and exit 3."""
    import socket

    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    tlog(tmp_path, "witness", "keygen", "witness.serve.test/w1", "--out", "w1")
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        where = f"127.0.0.1:{busy.getsockname()[1]}"
        for command in (["serve"], ["witness", "serve"]):
            res = subprocess.run([str(BIN / "tlog"), *command, "--listen", where], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 2, (command, res.stderr)
            assert res.stderr.splitlines() == [
                f"error: --listen {where}: Address already in use (another server there? give "
                "another address or port)"], (command, res.stderr)


def test_a_connection_the_server_closes_ends_though_workers_started_while_it_was_open(
        tmp_path: Path) -> None:
    """The admission workers start at the first entry. Forked from the server, they held a
    copy of every connection open then: the server's close of an idle keep-alive connection
    sent nothing, and the client's next request on it hung with no answer (sigstore-python's
    client reuses its connection, with no timeout); a stopped server's port also kept
    accepting. Here a raw connection, after its first answer and the server's idle timeout
    (5 s), reads the end of the stream."""
    import socket
    import time

    pki = PrivateSigstore.create(tmp_path / "pki")
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    body = json.dumps(_request(*pki.leaf("keepalive@example.com"), b"kept alive\n")[0]).encode()
    with serving(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            conn.sendall(b"POST /api/v2/log/entries HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(rest) < length:
                rest += conn.recv(65536)
            time.sleep(6.5)  # past the idle timeout: the server closes the connection
            # The end of the stream, not a wait for ever (a reset: closed all the same).
            with contextlib.suppress(ConnectionResetError):
                assert conn.recv(1) == b""


def _log_requiring_a_witness_that_is_down(tmp_path: Path, name: str) -> None:
    """A folder log whose policy requires the cosignature of ``name``, which nobody serves."""
    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    wdir = tmp_path / "w"
    wdir.mkdir()
    tlog(wdir, "witness", "keygen", name, "--out", "key")
    tlog(tmp_path, "config", "add-witness", "--url", f"http://127.0.0.1:{free_port()}",
         "--vkey", str(wdir / "key.pub"), "--threshold", "1", "--require")


def test_a_held_back_tree_is_said_once_and_every_request_is_logged(tmp_path: Path) -> None:
    """A witness that is down holds a tree back: the frontend said so four times a second
    (asking the witness as often), and it now says it once per tree, asking less and less
    often. Every request gets its access line, not only the write endpoint's (the README says
    each request does: /healthz, a 404 and a Rekor v1 path had none)."""
    import time

    pki = PrivateSigstore.create(tmp_path / "pki")
    _log_requiring_a_witness_that_is_down(tmp_path, "witness.serve.test/w9")
    log = tmp_path / "serve.log"
    body = _request(*pki.leaf("held@example.com"), b"held back\n")[0]
    with serving(tmp_path, "--answer-timeout", "1", log=log) as url:
        r = requests.post(f"{url}/api/v2/log/entries", json=body, timeout=30)
        assert r.status_code == 503, r.text
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        assert requests.get(f"{url}/nope", timeout=10).status_code == 404
        assert requests.post(f"{url}/api/v1/log/entries", json={}, timeout=10).status_code in (
            404, 405)
        time.sleep(3)  # a dozen runs at --interval 0.25 s before
    text = log.read_text()
    assert text.count("witness policy not met; checkpoint 1 not published") == 1, text
    lines = [json.loads(ln) for ln in text.splitlines() if ln.startswith('{"client"')]
    seen = {(ln["method"], ln["path"], ln["status"]) for ln in lines}
    assert {("POST", "/api/v2/log/entries", 503), ("GET", "/healthz", 200),
            ("GET", "/nope", 404)} <= seen, seen
    assert any(path == "/api/v1/log/entries" for _, path, _ in seen), seen


def test_healthz_says_when_sequencing_has_failed_for_a_minute(tmp_path: Path) -> None:
    """/healthz said ok while every sequencing run failed (a full disk), so a load balancer
    kept sending writes to a frontend that could publish nothing. A run's bad minute is not
    ill health; failing for over a minute is: 503, with the last error. The runs fail by an
    injected fault (a full disk needs a mount this test cannot make), and the minute is
    taken as passed rather than waited for."""
    import asyncio

    from sequencer.cli import open_stores
    from sequencer.config import load_config
    from sequencer.frontend import Frontend
    from tlog.errors import StoreError

    tlog(tmp_path, "keygen", HOST, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", HOST, "--key", "log.key")
    cfg = load_config(str(tmp_path / "tlog.toml"))
    store, queue = open_stores(cfg)

    def sequence(should_stop: Any) -> Any:
        raise StoreError("write failed: No space left on device", key="tile/0/000.p/1")

    frontend = Frontend(cfg, store, queue, sequence, interval=0.05)
    app = frontend.app()

    async def healthz() -> tuple[int, dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": "/healthz", "raw_path": b"/healthz",
                   "query_string": b"", "headers": [], "client": ("127.0.0.1", 1),
                   "server": ("127.0.0.1", 80), "scheme": "http", "http_version": "1.1",
                   "root_path": ""}, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], json.loads(body)

    async def drive() -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
        frontend.start()
        try:
            while frontend.failing is None:
                await asyncio.sleep(0.05)
            early = await healthz()
            since, why = frontend.failing
            frontend.failing = (since - 61, why)  # a minute of failing runs, taken as passed
            return early, await healthz()
        finally:
            await asyncio.to_thread(frontend.shutdown)

    (code, early), (late_code, late) = asyncio.run(drive())
    assert code == 200 and early["ok"] is True
    assert "No space left on device" in early["last_error"]
    assert late_code == 503 and late["ok"] is False and late["failing_for"] >= 60


def test_an_idle_public_tree_short_of_witnesses_is_said_once(tmp_path: Path) -> None:
    """A witness required after the log's first tree was published (or one that is down) at
    an idle frontend: "witness policy not met for tree 0, which is already public" was said
    at every run, four times a second, with a call to the witness each time; now once, with
    each witness's reason, and the witness is asked less and less often."""
    import time

    _log_requiring_a_witness_that_is_down(tmp_path, "witness.serve.test/w8")
    log = tmp_path / "serve.log"
    with serving(tmp_path, log=log):
        time.sleep(3)  # a dozen runs at --interval 0.25 s
    said = [ln for ln in log.read_text().splitlines() if "witness policy not met" in ln]
    assert len(said) == 1, said
    assert said[0].startswith("witness policy not met for tree 0, which is already public: "
                              "kept as published (witness.serve.test/w8: failed: ")
