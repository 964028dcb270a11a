"""The client against a hostile log server on loopback (issue 18 item 1): a gzip bomb, an
endless checkpoint, a slow drip (of the body, or of the head), an oversized entry bundle and a
redirect to another origin each end in a typed error naming the object (exit 3), within bounded
time and memory, never in a MemoryError traceback or a hang. `tlog verify` runs as a user runs
it, in its own process, whose peak RSS is read from the kernel (wait4)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries

BIN = Path(sys.executable).parent
BOMB = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB inflated, ~250 KB sent


class Hostile(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.mode, self.other = root, "", ""


class _Handler(BaseHTTPRequestHandler):
    server: Hostile

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, **headers: str) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        key, mode = self.path.lstrip("/"), self.server.mode
        try:
            if key == "checkpoint" and mode == "bomb":
                return self._send(200, BOMB, Content_Encoding="gzip",
                                  Content_Length=str(len(BOMB)))
            if key == "checkpoint" and mode == "endless":
                self.send_response(200)
                self.end_headers()
                while True:
                    self.wfile.write(b"a" * 65536)
            if key == "checkpoint" and mode == "drip":
                self.send_response(200)
                self.end_headers()
                for byte in (self.server.root / key).read_bytes():
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)
                return None
            if key == "checkpoint" and mode == "drip-head":  # the head itself, a byte at a time
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(120):
                    self.wfile.write(b"a")
                    time.sleep(0.5)
                return None
            if key == "checkpoint" and mode == "silent":  # says nothing: a network, or down
                time.sleep(30)
                return None
            if key == "checkpoint" and mode == "slow-redirect":  # a slow hop, then silence
                time.sleep(2)
                return self._send(302, b"", Location="/silent", Content_Length="0")
            if key == "silent":
                time.sleep(30)
                return None
            if key == "tile/0/000" and mode == "short-tile":  # cut short, as a network does
                self.send_response(200)
                self.send_header("Content-Length", "8192")
                self.end_headers()
                self.wfile.write(b"\0" * 100)
                return None
            if key == "checkpoint" and mode == "not-gzip":
                return self._send(200, b"plain", Content_Encoding="gzip", Content_Length="5")
            if key == "checkpoint" and mode == "redirect":
                return self._send(302, b"", Location=f"{self.server.other}/checkpoint")
            if key.startswith("tile/") and (
                    (mode == "big-tiles" and not key.startswith("tile/entries/"))
                    or (mode == "big-bundles" and key.startswith("tile/entries/"))):
                self.send_response(200)
                self.end_headers()
                for _ in range(100 * 16):  # 100 MiB, no Content-Length
                    self.wfile.write(b"\1" * 65536)
                return None
            if key == "tile/entries/000" and mode == "big-bundle":
                self.send_response(200)
                self.end_headers()
                for _ in range(100 * 16):  # 100 MiB, no Content-Length
                    self.wfile.write(b"\1" * 65536)
                return None
            data = (self.server.root / key).read_bytes()
        except (BrokenPipeError, ConnectionResetError):
            return None
        except OSError:
            return self._send(404, b"not found\n")
        return self._send(200, data, Content_Length=str(len(data)))


    def do_POST(self) -> None:  # a witness's add-checkpoint, hostile
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            if self.server.mode == "witness-big":
                self.send_response(200)
                self.end_headers()
                for _ in range(160):  # 10 MiB of "cosignatures"
                    self.wfile.write(b"\xe2\x80\x94 w " + b"A" * 65530 + b"\n")
            elif self.server.mode == "witness-redirect":
                self._send(307, b"", Location=f"{self.server.other}/add-checkpoint")
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hostile, str]]:
    root = tmp_path_factory.mktemp("hostile") / "log"
    log = TestLog(root, origin="hostile.example/log")
    log.append(synthetic_entries(300))
    log.publish()
    server, other = Hostile(root), Hostile(root)
    for s in (server, other):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    server.other = f"http://127.0.0.1:{other.server_address[1]}"
    yield server, log.vkey
    for s in (server, other):
        s.shutdown()


_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def _verify(server: Hostile, vkey: str, tmp: Path) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, peak RSS in MB) of `tlog verify --index 0`. The peak is
    the kernel's, read by a small launcher: measured from this process (forked from a large
    one), it would count the parent's pages."""
    url = f"http://127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp / "rss"), str(BIN / "tlog"), "verify",
         "--log", url, "--vkey", vkey, "--index", "0", "--state", str(tmp / "trust")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TLOG_HTTP_TIMEOUT": "3", "XDG_CACHE_HOME": str(tmp / "cache")})
    rss = int((tmp / "rss").read_text()) // 1024
    return res.returncode, res.stderr, time.monotonic() - started, rss


@pytest.mark.parametrize(("mode", "what", "why"), [
    ("", None, None),
    ("bomb", "checkpoint", "more than 1048576 bytes"),
    ("endless", "checkpoint", "more than 1048576 bytes"),
    ("drip", "checkpoint", "too slow"),
    ("drip-head", "checkpoint", "too slow"),
    ("redirect", "checkpoint", "redirected to another origin"),
    ("big-bundle", "tile/entries/000", "more than 16777472 bytes"),
])
def test_hostile_answers_are_typed_errors(hostile: tuple[Hostile, str], tmp_path: Path,
                                          mode: str, what: str | None,
                                          why: str | None) -> None:
    server, vkey = hostile
    server.mode = mode
    code, err, seconds, rss = _verify(server, vkey, tmp_path)
    if what is None:  # the same server, honest: the entry verifies
        assert code == 0, err
        return
    assert code == 3, err
    assert "Traceback" not in err and err.startswith(f"error: {what}: ") and why in err, err
    assert seconds < 30, seconds  # a deadline of 3 s per object, a few objects at most
    assert rss < 200, rss  # MB: far below what the answer would inflate to


@pytest.mark.parametrize(("mode", "what", "why"), [
    ("bomb", "checkpoint", "more than 1048576 bytes"),
    ("endless", "checkpoint", "more than 1048576 bytes"),
    ("drip", "checkpoint", "too slow"),
    ("drip-head", "checkpoint", "too slow"),
    ("big-bundle", "tile/entries/000", "more than 16777472 bytes"),
    ("redirect", "http://127.0.0.1", "redirected to another origin"),
    ("short-tile", "tile/0/000", "cut short"),
    ("not-gzip", "checkpoint", "not gzip"),
    ("silent", "checkpoint", "timed out"),
    ("slow-redirect", "checkpoint", "timed out"),
])
def test_the_one_file_script_bounds_what_it_reads(hostile: tuple[Hostile, str], tmp_path: Path,
                                                 mode: str, what: str, why: str) -> None:
    """scripts/verify_inclusion.py against the same hostile server: each answer is read up to
    the most its object can hold, within the deadline, and ends in one line and exit 3 (it
    read whole answers, inflated gzip without a bound, waited for a drip for ever and
    followed a redirect anywhere); a body cut short or not the gzip it says is "cannot read"
    (exit 1), not a verdict on the log."""
    server, vkey = hostile
    server.mode = mode
    script = Path(__file__).resolve().parent.parent / "scripts" / "verify_inclusion.py"
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path / "rss"), sys.executable, "-I",
         str(script), f"http://127.0.0.1:{server.server_address[1]}", vkey, "--index", "0"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TLOG_HTTP_TIMEOUT": "3"})
    rss = int((tmp_path / "rss").read_text()) // 1024
    if mode in ("short-tile", "not-gzip", "silent", "slow-redirect"):  # a network or a broken
        # server (silent after a slow redirect: the deadline was not the socket's): exit 1
        assert res.returncode == 1, res.stdout + res.stderr
        assert res.stderr.startswith(f"error: cannot read the log: {what}: ") and why in res.stderr
    else:
        assert res.returncode == 3, res.stdout + res.stderr
        assert res.stderr.startswith(f"FAILED: {what}") and why in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and time.monotonic() - started < 30 and rss < 200


@pytest.mark.parametrize("mode", ["silent", "drip-head"])
def test_a_silent_server_is_told_from_a_dripping_head(hostile: tuple[Hostile, str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     mode: str) -> None:
    """``bounded_get``: a server that says nothing meets the socket's own timeout, a transport
    failure (retried, exit 1); one that sends its head a byte at a time is cut at the deadline,
    hostile (not retried, exit 3). It was read for as long as it dripped: http.client bounds
    each socket read, not the head."""
    import requests

    from tlog.errors import HostileResponseError
    from tlog.storage.bounded import bounded_get

    server, _ = hostile
    server.mode = mode
    monkeypatch.setenv("TLOG_HTTP_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(requests.Timeout if mode == "silent" else HostileResponseError):
        bounded_get(requests.Session(), f"http://127.0.0.1:{server.server_address[1]}/checkpoint",
                    "checkpoint", 1 << 20)
    assert time.monotonic() - started < 10


def test_a_socks_proxy_keeps_its_own_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a SOCKS proxy (``requests[socks]``, ``ALL_PROXY=socks5://…``) a read fails as a
    transport failure, not with a TypeError traceback: the head-bounding pools were given to
    requests' SOCKS manager, whose pools take other arguments. PySocks is not installed here,
    so a stand-in lets urllib3's SOCKS support import (it is never reached: the proxy's port
    is closed)."""
    import types

    import requests

    from tlog.storage.bounded import bounded_get

    stub = types.ModuleType("socks")
    stub.PROXY_TYPE_SOCKS4 = stub.SOCKS4 = 1  # type: ignore[attr-defined]
    stub.PROXY_TYPE_SOCKS5 = stub.SOCKS5 = 2  # type: ignore[attr-defined]
    for name in ("ProxyError", "GeneralProxyError", "SOCKS5AuthError"):
        setattr(stub, name, type(name, (Exception,), {}))

    def create_connection(*args: object, **kw: object) -> None:
        raise ConnectionRefusedError("the stand-in SOCKS proxy refuses")

    stub.create_connection = create_connection  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "socks", stub)
    monkeypatch.delitem(sys.modules, "urllib3.contrib.socks", raising=False)
    from urllib3.contrib.socks import SOCKSProxyManager  # requests looked for it at import

    monkeypatch.setattr(requests.adapters, "SOCKSProxyManager", SOCKSProxyManager)
    session = requests.Session()
    session.proxies = {"http": "socks5://127.0.0.1:9", "https": "socks5://127.0.0.1:9"}
    with pytest.raises(requests.ConnectionError):
        bounded_get(session, "http://127.0.0.1:9/checkpoint", "checkpoint", 1 << 20)


def test_the_watchdog_holds_the_requests_in_flight_only() -> None:
    """Each request arms a deadline and disarms it when its head has come; a disarmed one was
    dropped only when its time came, so the heap held every request of the last deadline's
    worth of time (60 s), each with its socket."""
    from tlog.storage.bounded import _Watchdog

    dog = _Watchdog()
    far = time.monotonic() + 3600
    slow = dog.arm(far, lambda: None)  # one request still waiting
    for _ in range(10_000):
        dog.disarm(dog.arm(far, lambda: None))
    assert len(dog._heap) < 200, len(dog._heap)
    assert dog.disarm(slow) and not dog.disarm(slow)


def test_sessions_are_fitted_once_under_a_lock() -> None:
    """Eight threads making the first request on one fresh session: each fitting it at once
    mutated its adapters while another read them (RuntimeError, InvalidSchema)."""
    import requests

    from tlog.storage.bounded import fit_session

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors: list[str] = []
    try:
        for _ in range(100):
            session, barrier = requests.Session(), threading.Barrier(8)

            def fit(session: requests.Session = session,
                    barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    fit_session(session)
                    session.get_adapter("http://x")
                except Exception as e:  # what the race raised
                    errors.append(repr(e))

            threads = [threading.Thread(target=fit) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []


@pytest.mark.parametrize(("mode", "why"), [
    ("witness-big", "more than 65536 bytes"),
    ("witness-redirect", "redirected to another origin"),
])
def test_a_hostile_witness_is_a_typed_error(hostile: tuple[Hostile, str], mode: str,
                                            why: str) -> None:
    from tlog.client.witness import WitnessSpec, cosign_with
    from tlog.cosignature import generate_cosignature_key, parse_any_verifier
    from tlog.errors import VerificationError

    server, _ = hostile
    server.mode = mode
    _, vkey = generate_cosignature_key("w.example/w")
    spec = WitnessSpec("w.example/w", f"http://127.0.0.1:{server.server_address[1]}",
                       parse_any_verifier(vkey))
    note = (server.root / "checkpoint").read_bytes()
    with pytest.raises(VerificationError, match=why):
        cosign_with(spec, note, 300, lambda old: [], timeout=5)


@pytest.mark.parametrize(("mode", "what"), [("big-tiles", "tile/"),
                                            ("big-bundles", "tile/entries/")])
def test_a_hostile_answer_is_not_called_misbehaviour_by_the_monitor(tmp_path: Path, mode: str,
                                                                    what: str) -> None:
    """`tlog monitor` following a log whose server turns hostile (an endless answer for each
    hash tile, which the consistency proof reads first, or for each entry bundle): exit 3
    naming the object, no misbehaviour event ("fork", "bad-tile": they claim what a third party
    can check with the log's key, and there is nothing to check), and the state left where it
    was, so the next honest answer is checked from there."""
    from submissions import hashedrekord_docs

    from tlog.entries import admit

    entries = [admit(doc).entry for _, doc in hashedrekord_docs(600, seed=5)]
    log = TestLog(tmp_path / "log", origin="hostile.example/log")
    log.append(entries[:300])
    log.publish()
    server = Hostile(tmp_path / "log")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def monitor() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "tlog"), "monitor", "--log", url, "--vkey", log.vkey, "--state",
             str(tmp_path / "mon")], capture_output=True, text=True, timeout=120,
            env={**os.environ, "TLOG_HTTP_TIMEOUT": "3", "XDG_CACHE_HOME": str(tmp_path / "c")})

    try:
        first = monitor()
        assert first.returncode in (0, 4), first.stderr
        log.append(entries[300:])
        log.publish()
        server.mode = mode
        res = monitor()
        assert res.returncode == 3, (res.stdout, res.stderr)
        assert "misbehaviour" not in res.stdout and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"error: {what}") and "more than" in res.stderr, res.stderr
        server.mode = ""
        again = monitor()
        assert again.returncode in (0, 4), again.stderr
        assert "checked 300 new entries up to size 600" in again.stderr, again.stderr
    finally:
        server.shutdown()
