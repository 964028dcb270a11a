"""One retry policy (issue 18 item 15): a store tries a passing failure exactly ``tries``
times, never ``tries`` × the client library's own retries. A real HTTP server on loopback
that answers every request with 503 counts what arrives."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from tlog.errors import StoreError
from tlog.storage.http import HTTPStore
from tlog.storage.s3 import S3Store


@pytest.fixture
def always_503() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.command)
            body = b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
            self.send_response(503)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def test_http_store_tries_exactly_its_tries(always_503: tuple[str, list[str]]) -> None:
    url, seen = always_503
    with pytest.raises(StoreError, match=r"HTTP 503 \(after 3 tries\)"):
        HTTPStore(url, tries=3, backoff=0.01).get("checkpoint")
    assert len(seen) == 3


def test_s3_store_tries_exactly_its_tries(always_503: tuple[str, list[str]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = always_503
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    store = S3Store("s3://bucket/log", endpoint=url, tries=3, backoff=0.01)
    with pytest.raises(StoreError, match=r"after 3 tries"):
        store.get("checkpoint")
    assert len(seen) == 3
