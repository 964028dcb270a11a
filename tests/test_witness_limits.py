"""`tlog witness serve` under connections that hold it (issue 18 item 7): a silent or dripping
request head is closed at its deadline, a kept-alive connection at its idle deadline, and one
address cannot take more than its share, so legitimate requests keep being answered. Real
server (uvicorn on loopback), real sockets; the attacker speaks from 127.0.0.2."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from servers import witness_server

BIN = Path(sys.executable).parent


def _witness(tmp: Path, limits: str) -> Path:
    subprocess.run([str(BIN / "tlog"), "witness", "keygen", "limits.example/w", "--out", "key"],
                   cwd=tmp, check=True, capture_output=True)
    cfg = tmp / "witness.toml"
    cfg.write_text(cfg.read_text() + "\n[limits]\n" + limits)
    return cfg


def _connect(url: str, source: str = "127.0.0.1") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.socket()
    s.bind((source, 0))
    s.connect((host, int(port)))
    return s


def _get(s: socket.socket) -> bytes:
    """GET / on a kept-alive socket: the whole answer (head and body), leaving it open."""
    s.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n")
    answer, _ = _read_answer(s)
    assert answer is not None
    return answer


def _read_answer(s: socket.socket, got: bytes = b"") -> tuple[bytes | None, bytes]:
    """One whole answer (head and body) from ``s`` after the bytes ``got`` already read, and
    the bytes after it; None if the connection closed first."""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            return None, got
        got += chunk
    head, _, got = got.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(got) < length:
        got += s.recv(4096)
    return head + b"\r\n\r\n" + got[:length], got[length:]


def _closed_within(s: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Seconds until the server closed ``s`` (reading what it said), or pytest.fail."""
    start = time.monotonic()
    s.settimeout(seconds)
    got = b""
    try:
        while chunk := s.recv(4096):
            got += chunk
    except TimeoutError:
        pytest.fail(f"the witness held the connection for more than {seconds} s (said {got!r})")
    except ConnectionResetError:
        pass
    return time.monotonic() - start, got


@contextlib.contextmanager
def _held(url: str, n: int, source: str, head: bytes) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(n):
            s = _connect(url, source)
            s.sendall(head)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def test_silent_and_dripping_heads_are_closed_at_the_deadline(tmp_path: Path) -> None:
    with witness_server(_witness(tmp_path, "head_timeout = 1.5\n")) as url:
        silent = _connect(url)
        took, said = _closed_within(silent, 10)
        assert said.startswith(b"HTTP/1.1 408") and 1.0 < took < 5

        # One byte of a request head every 0.2 s: each arrival used to reset nothing and the
        # head never completed; the deadline counts from the connection, not the last byte.
        drip = _connect(url)
        start = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for byte in b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nX-Slow: " + b"a" * 200:
                drip.send(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - start > 10:
                    pytest.fail("a dripping request head held the witness for 10 s")
        assert time.monotonic() - start < 5


def test_kept_alive_connections_are_closed_when_idle_or_slow(tmp_path: Path) -> None:
    with witness_server(_witness(tmp_path, "head_timeout = 1.5\nidle_timeout = 1.0\n")) as url:
        idle = _connect(url)
        assert _get(idle).startswith(b"HTTP/1.1 200")
        took, _ = _closed_within(idle, 10)
        assert took < 4

        # A second request head begun after the first answer and never finished.
        slow = _connect(url)
        assert _get(slow).startswith(b"HTTP/1.1 200")
        slow.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n")
        took, said = _closed_within(slow, 10)
        assert took < 4 and said.startswith(b"HTTP/1.1 408"), said


def test_one_address_cannot_hold_the_witness(tmp_path: Path) -> None:
    # 300 held connections from one address (silent ones and half-sent heads), a deadline long
    # enough that only the cap can help: the witness keeps answering everybody else.
    half_head = b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n"
    with witness_server(_witness(tmp_path, "head_timeout = 60.0\n")) as url, \
            _held(url, 150, "127.0.0.2", b"") as silent, \
            _held(url, 150, "127.0.0.2", half_head) as half:
        refused = 0
        for s in silent + half:
            s.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                if s.recv(4096).startswith(b"HTTP/1.1 429"):
                    refused += 1
        assert refused == 300 - 16  # the default cap per address
        for _ in range(5):
            r = requests.get(url + "/", timeout=5)
            assert r.status_code == 200, r.text
        r = requests.post(url + "/add-checkpoint", data=b"old 1\n\nnot a checkpoint\n",
                          timeout=5)
        assert r.status_code == 404  # on its merits (a log it does not follow), not 503


def test_a_total_cap_answers_503_beyond_it(tmp_path: Path) -> None:
    with witness_server(_witness(tmp_path, "head_timeout = 60.0\nmax_connections = 20\n")) as url:
        with _held(url, 10, "127.0.0.2", b""), _held(url, 10, "127.0.0.3", b""):
            s = _connect(url, "127.0.0.4")
            _, said = _closed_within(s, 5)
            assert said.startswith(b"HTTP/1.1 503")
        deadline = time.monotonic() + 5  # the held ones are gone: room again
        while requests.get(url + "/", timeout=5).status_code != 200:
            assert time.monotonic() < deadline


@pytest.mark.parametrize(("limits", "message"), [
    ("head_timeuot = 3\n", "unknown key 'limits.head_timeuot'"),
    ("max_connections = 0\n", "limits.max_connections: expected a positive integer"),
    ("idle_timeout = \"5s\"\n", "limits.idle_timeout: expected a positive number"),
])
def test_limits_are_checked_in_the_config(tmp_path: Path, limits: str, message: str) -> None:
    cfg = _witness(tmp_path, limits)
    res = subprocess.run([str(BIN / "tlog"), "witness", "serve", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("workers", ["0", '"2"', "true", "65"])
def test_workers_are_checked_in_the_config(tmp_path: Path, workers: str) -> None:
    cfg = _witness(tmp_path, "")
    cfg.write_text(f"workers = {workers}\n" + cfg.read_text())
    res = subprocess.run([str(BIN / "tlog"), "witness", "serve", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{cfg}: workers: expected a number of processes from 1 to 64" in res.stderr


def _answers(s: socket.socket, count: int, seconds: float) -> list[bytes]:
    """The next ``count`` whole answers on ``s`` (fewer if it closes or falls silent)."""
    s.settimeout(seconds)
    got, out = b"", []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while len(out) < count:
            answer, got = _read_answer(s, got)
            if answer is None:
                break
            out.append(answer)
    return out


def test_a_pipelined_request_is_not_cut_off_by_the_head_deadline(tmp_path: Path) -> None:
    """Two requests in one packet, the second's body late (beyond the head deadline): its head
    came in time, so it is answered on its merits, not with a 408 while it is served."""
    with witness_server(_witness(tmp_path, "head_timeout = 1\n")) as url:
        s = _connect(url)
        body = b"old 0\n\nunknown.example/log\n1\n" + b"A" * 43 + b"=\n\n"
        s.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n"
                  b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        time.sleep(1.6)
        s.sendall(body)
        said = _answers(s, 2, 10)
        s.close()
        assert said[0].startswith(b"HTTP/1.1 200"), said
        assert len(said) == 2 and said[1].startswith(b"HTTP/1.1 404"), said  # unknown log


def test_a_request_asking_to_upgrade_is_read_as_http_1_1(tmp_path: Path) -> None:
    """Java's HttpClient asks every cleartext connection to upgrade to h2c: the witness
    ignores the upgrade and reads the request, body included (uvicorn's httptools protocol
    lost the body: the answer was 400 'no empty line')."""
    with witness_server(_witness(tmp_path, "")) as url:
        body = b"old 0\n\nunknown.example/log\n1\n" + b"A" * 43 + b"=\n\n"
        for _ in range(2):  # a fresh connection, then the same request again on it
            s = _connect(url)
            upgrade = (b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n"
                       b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                       b"HTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: %d\r\n\r\n"
                       % len(body)) + body
            s.sendall(upgrade)
            first = _answers(s, 1, 10)
            s.sendall(upgrade)
            second = _answers(s, 1, 10)
            s.close()
            for said in (first, second):
                assert said and said[0].startswith(b"HTTP/1.1 404"), said
                assert b"unknown log 'unknown.example/log'" in said[0], said
        assert requests.get(url + "/", timeout=10).status_code == 200


def test_a_request_asking_to_upgrade_in_a_later_packet_is_read_whole(tmp_path: Path) -> None:
    """The same, with the head in two packets and the Upgrade in the second: the hand-over
    to h11 gave it the second packet only, which it could not read (400)."""
    with witness_server(_witness(tmp_path, "")) as url:
        s = _connect(url)
        s.sendall(b"GET / HTTP/1.1\r\nHost: w")
        time.sleep(0.3)
        s.sendall(b"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                  b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        said = _answers(s, 1, 10)
        s.close()
        assert said and said[0].startswith(b"HTTP/1.1 200"), said


def test_continue_and_close_are_written_whole(tmp_path: Path) -> None:
    """A response's writes go out together at the end of the event loop's turn
    (tlog.guard._TurnWrites): a client waiting for '100 Continue' before its body still gets
    it, and a 'Connection: close' answer is written whole before the socket closes."""
    with witness_server(_witness(tmp_path, "")) as url:
        body = b"old 0\n\nunknown.example/log\n1\n" + b"A" * 43 + b"=\n\n"
        s = _connect(url)
        s.settimeout(10)
        s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got
        s.sendall(body)
        said = _answers(s, 1, 10)
        assert said and b"unknown log 'unknown.example/log'" in said[0], said
        s.sendall(b"GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n")
        _, rest = _closed_within(s, 10)
        assert rest.startswith(b"HTTP/1.1 200"), rest
        assert rest.endswith(b"\r\n\r\ntiledlog witness limits.example/w\n"), rest


class _Transport(asyncio.Transport):
    """What a connection's writes would send, in order. A stand-in for the socket: the two
    cases below are orders of callbacks within one turn of the event loop, which a client
    over a real socket cannot pin down."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        if not self.closed:
            self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("then", ["shutdown", "garbage"])
def test_a_finished_response_is_sent_before_the_connection_ends(then: str, method: str) -> None:
    """A response completed in the same loop turn as the server's graceful shutdown (which
    closes connections whose response is complete), or as bytes that do not parse (uvicorn
    answers 400 on the socket itself and closes it), is still sent whole, and first; a HEAD
    answer too, whose head is its last write."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from tlog.guard import Limits, guarded_protocol

    async def app(scope: dict, receive: object, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"no"})

    async def run() -> _Transport:
        config = Config(app=app, http="httptools", log_level="warning")
        config.load()
        guarded = guarded_protocol(Limits(), "witness.access")
        proto = guarded(config=config, server_state=ServerState(), app_state={})
        t = _Transport()
        proto.connection_made(t)
        proto.data_received(method.encode() + b" /x HTTP/1.1\r\nHost: w\r\n\r\n")
        loop = asyncio.get_running_loop()
        if then == "shutdown":
            loop.call_soon(proto.shutdown)
        else:
            loop.call_soon(proto.data_received, b"\x00garbage\r\n\r\n")
        for _ in range(5):
            await asyncio.sleep(0)
        return t

    t = asyncio.run(run())
    head = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n"
    assert t.sent and t.sent[0] == head + (b"no" if method == "GET" else b""), t.sent
    assert t.closed
    if then == "garbage":
        assert len(t.sent) == 2 and t.sent[1].startswith(b"HTTP/1.1 400"), t.sent
