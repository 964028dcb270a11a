"""One conformance suite for every backend, run against real servers on loopback."""

from __future__ import annotations

import http.client
import logging
import multiprocessing
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from servers import S3_CREDENTIALS, StaticServer

from tlog.errors import ConflictError, NotFoundError, StoreError
from tlog.storage import open_store, upload_for
from tlog.storage.base import CHECKPOINT, FULL_TILE, HTML, PARTIAL_TILE


@pytest.fixture(params=["folder", "s3", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "folder":
        return open_store(str(tmp_path / "store"))
    if request.param == "gcs":
        return open_store(f"gs://{request.getfixturevalue('gcs_bucket')}/some/prefix")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/some/prefix")


def test_put_is_create_only_and_idempotent(store: Any) -> None:
    store.put("tile/0/001", b"c" * 32)
    store.put("tile/0/001", b"c" * 32)  # same bytes again: fine on every backend
    store.put("tile/0/000", b"a" * 32)
    store.put("tile/0/000", b"a" * 32)  # same bytes again: fine
    with pytest.raises(ConflictError) as e:
        store.put("tile/0/000", b"b" * 32)
    assert "tile/0/000" in str(e.value)
    assert store.get("tile/0/000") == b"a" * 32


def test_get_list_delete_and_missing(store: Any) -> None:
    for k in ("queue/b.json", "queue/a.json", "rejected/c.json", "queue/sub/d.json"):
        store.put(k, k.encode())
    assert list(store.list("queue/")) == ["queue/a.json", "queue/b.json", "queue/sub/d.json"]
    assert store.get_many(["queue/a.json", "nope", "rejected/c.json"]) == [
        b"queue/a.json", None, b"rejected/c.json"]
    assert store.get_range("queue/a.json", 2, 7) == b"eue/a"
    assert store.exists("queue/a.json") and not store.exists("queue/zz.json")
    store.delete("queue/a.json")
    store.delete("queue/a.json")  # idempotent
    with pytest.raises(NotFoundError) as e:
        store.get("queue/a.json")
    assert "queue/a.json" in str(e.value)
    store.overwrite("index.html", b"one")
    store.overwrite("index.html", b"two")
    assert store.get("index.html") == b"two"


def test_delete_many(store: Any) -> None:
    keys = [f"queue/{i:04d}.json" for i in range(1203)]  # S3: more than one 1,000-key request
    for k in keys[:5] + keys[1000:]:
        store.put(k, b"x")
    store.put("queue/keep.json", b"k")
    before = store.stats.deletes
    store.delete_many(keys)  # most were never there: still fine
    store.delete_many([])
    assert list(store.list("queue/")) == ["queue/keep.json"]
    if store.url.startswith("s3://"):
        assert store.stats.deletes - before == 2  # DeleteObjects batches


def test_put_many_is_create_only_and_leaves_no_temporaries(store: Any, tmp_path: Path) -> None:
    items = [(f"tile/0/{i:03d}", bytes([i]) * 32) for i in range(40)]
    store.put_many(items[:10])
    store.put_many(items)  # the first ten again, same bytes: fine
    store.put_many([])
    assert store.get_many([k for k, _ in items]) == [d for _, d in items]
    assert list(store.list("tile/")) == [k for k, _ in items]
    if store.url.startswith("/"):  # no .tmp- files left beside the objects
        assert sorted(p.name for p in (tmp_path / "store" / "tile" / "0").iterdir()) == [
            f"{i:03d}" for i in range(40)]
    with pytest.raises(ConflictError) as e:
        store.put_many([("tile/0/100", b"new"), ("tile/0/005", b"other bytes")])
    assert "tile/0/005" in str(e.value)
    assert store.get("tile/0/005") == bytes([5]) * 32


def test_folder_link_many_is_a_create_only_copy(tmp_path: Path) -> None:
    """A folder applies a staged batch by hard links: each key gets its source's bytes, the
    same bytes already there are fine, other bytes are a conflict, and a source already
    cleaned up is fine once its key exists (a re-run after the batch was applied)."""
    store = open_store(str(tmp_path / "log"))
    staged = [(f"sequencer/staging/s~tile~0~{i:03d}", bytes([i]) * 32) for i in range(5)]
    store.put_many(staged)
    pairs = [(k, f"tile/0/{i:03d}") for i, (k, _) in enumerate(staged)]
    store.link_many(pairs)
    store.link_many(pairs)  # again: same bytes, fine
    assert store.get_many([k for _, k in pairs]) == [d for _, d in staged]
    assert store.stats.links == 10
    store.delete_many([k for k, _ in staged])
    store.link_many(pairs)  # sources gone, keys there: applied before
    assert store.get("tile/0/004") == bytes([4]) * 32
    store.put("sequencer/staging/s~tile~0~009", b"new")
    store.put("tile/0/009", b"other bytes")
    with pytest.raises(ConflictError, match="different content"):
        store.link_many([("sequencer/staging/s~tile~0~009", "tile/0/009")])
    with pytest.raises(StoreError):  # neither source nor key: nothing to apply from
        store.link_many([("sequencer/staging/s~tile~0~010", "tile/0/010")])
    assert list(store.list("tile/0/")) == [f"tile/0/{i:03d}" for i in (0, 1, 2, 3, 4, 9)]


def test_compare_and_swap(store: Any) -> None:
    with pytest.raises(NotFoundError):
        store.fetch("sequencer/lock")
    v1 = store.create("sequencer/lock", b"v1")
    with pytest.raises(ConflictError):
        store.create("sequencer/lock", b"again")
    data, version = store.fetch("sequencer/lock")
    assert data == b"v1" and version == v1
    v2 = store.replace("sequencer/lock", version, b"v2")
    with pytest.raises(ConflictError):
        store.replace("sequencer/lock", v1, b"stale writer")
    assert store.fetch("sequencer/lock") == (b"v2", v2)


def test_http_read_only_store(tmp_path: Path) -> None:
    local = open_store(str(tmp_path / "served"))
    local.put("tile/0/000", b"t" * 8192)
    local.put("tile/0/001.p/3", b"p" * 96)
    local.put("checkpoint", b"cp\n")
    with StaticServer(tmp_path / "served") as server:
        store = open_store(server.url, cache_dir=str(tmp_path / "cache"))
        assert store.get("checkpoint") == b"cp\n"
        assert store.get_range("tile/0/001.p/3", 32, 64) == b"p" * 32
        assert store.get_many(["tile/0/000", "tile/0/002"]) == [b"t" * 8192, None]
        store.get("tile/0/000")  # full tile: served from the disk cache now
        assert server.requests["tile/0/000"] == 1
        store.get("checkpoint")
        assert server.requests["checkpoint"] == 2  # mutable: never cached
        for write in (lambda: store.put("x", b""), lambda: store.delete("x"),
                      lambda: store.create("x", b"")):
            with pytest.raises(StoreError, match="read-only"):
                write()


def test_upload_settings_by_kind() -> None:
    assert upload_for("tile/0/x001/234") == FULL_TILE
    assert upload_for("tile/entries/000") == FULL_TILE
    assert upload_for("tile/1/000.p/17") == PARTIAL_TILE
    assert upload_for("checkpoint") == CHECKPOINT
    assert upload_for("index.html") == HTML
    assert FULL_TILE.cache_control == "public, max-age=31536000, immutable"
    assert CHECKPOINT.content_type == "text/plain; charset=utf-8"


def test_gcs_metadata_and_versions(gcs_bucket: str) -> None:
    store = open_store(f"gs://{gcs_bucket}/log")
    store.overwrite("tile/0/000", b"x")
    store.create("sequencer/lock", b"v1")
    data, version = store.fetch("sequencer/lock")
    assert data == b"v1" and version.isdigit()
    assert store.replace("sequencer/lock", version, b"v2") != version
    blob = store.bucket.get_blob("log/tile/0/000")
    assert blob.content_type == FULL_TILE.content_type


def test_s3_headers_as_served(s3_bucket: str, s3_env: dict[str, str]) -> None:
    store = open_store(f"s3://{s3_bucket}/log")
    objects = {"tile/0/000": FULL_TILE, "tile/0/001.p/5": PARTIAL_TILE,
               "checkpoint": CHECKPOINT, "index.html": HTML}
    for key in objects:
        store.overwrite(key, b"x")
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env["TLOG_S3_ENDPOINT"])
    for key, up in objects.items():
        head = client.head_object(Bucket=s3_bucket, Key=f"log/{key}")  # a real HEAD request
        assert head["CacheControl"] == up.cache_control, key
        assert head["ContentType"] == up.content_type, key


# ----- two writers racing on the lock, as real processes ------------------------------------

def _racer(url: str, env: dict[str, str], barrier: Any, results: Any, who: int) -> None:
    import os

    os.environ.update(env)
    store = open_store(url)
    for round_ in range(20):
        _, version = store.fetch("sequencer/lock")
        barrier.wait()
        mine = f"{who}:{round_}".encode()
        try:
            store.replace("sequencer/lock", version, mine)
            said = "won"
        except ConflictError:
            said = "lost"
        barrier.wait()
        # A write retried after its first attempt landed reports a conflict (S3's 412): the
        # lock says who really won. Read before the next round begins.
        landed = store.fetch("sequencer/lock")[0] == mine
        results.put((round_, who, said, landed))
        barrier.wait()


@pytest.mark.parametrize("backend", ["folder", "s3", "gcs"])
def test_cas_race_between_processes(backend: str, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    env: dict[str, str] = {}
    if backend == "folder":
        url = str(tmp_path / "race")
    elif backend == "gcs":
        env = {"STORAGE_EMULATOR_HOST": request.getfixturevalue("gcs_endpoint")}
        url = f"gs://{request.getfixturevalue('gcs_bucket')}/race"
    else:
        env = request.getfixturevalue("s3_env")
        url = f"s3://{request.getfixturevalue('s3_bucket')}/race"
    open_store(url).create("sequencer/lock", b"start")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(url, env, barrier, results, w)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    outcomes: dict[int, list[tuple[str, bool]]] = {}
    for _ in range(40):
        round_, _, said, landed = results.get(timeout=10)
        outcomes.setdefault(round_, []).append((said, landed))
    for v in outcomes.values():
        # exactly one write landed each round; no writer whose write did not land says it won
        assert sorted(landed for _, landed in v) == [False, True], outcomes
        assert all(landed for said, landed in v if said == "won"), outcomes


def test_s3_double_conditional_writes_are_atomic() -> None:
    """The S3 double must refuse all but one of several PUTs with the same If-Match, as S3
    does, or the race above proves nothing: plain moto checks, then writes, with no lock
    between, and with threads switched often it let two of eight win in 11 of 60 rounds."""
    import boto3
    from botocore.exceptions import ClientError
    from servers import moto_server

    with moto_server(switch_interval=1e-6) as url, pytest.MonkeyPatch.context() as mp:
        for k, v in S3_CREDENTIALS.items():
            mp.setenv(k, v)
        clients = [boto3.client("s3", endpoint_url=url) for _ in range(8)]
        clients[0].create_bucket(Bucket="cas-race")
        etag = clients[0].put_object(Bucket="cas-race", Key="lock", Body=b"0")["ETag"]
        winners = []
        for round_ in range(30):
            barrier, won = threading.Barrier(len(clients)), []

            def write(who: int, tag: str = etag, barrier: Any = barrier, won: list = won,
                      round_: int = round_) -> None:
                barrier.wait()
                try:
                    clients[who].put_object(Bucket="cas-race", Key="lock", IfMatch=tag,
                                            Body=f"{round_}:{who}".encode())
                    won.append(who)
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "PreconditionFailed", e

            threads = [threading.Thread(target=write, args=(w,)) for w in range(len(clients))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners.append(len(won))
            etag = clients[0].head_object(Bucket="cas-race", Key="lock")["ETag"]
        assert winners == [1] * 30, winners


# ----- transient and permanent faults, through a real proxy -----------------------------------

class FaultProxy:
    """Forwards to an upstream HTTP server; answers 503 or drops the connection for a fraction
    of requests (seeded, so every run sees the same faults)."""

    def __init__(self, upstream: str, fail: float, seed: int = 7) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        rnd, lock = random.Random(seed), threading.Lock()
        self.faults = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                with lock:
                    roll = rnd.random()
                if roll < fail:
                    proxy.faults += 1
                    if roll < fail / 2:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _relay

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky(s3_env: dict[str, str]) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_env["TLOG_S3_ENDPOINT"], fail=0.2)
    yield proxy
    proxy.close()


def test_transient_faults_end_with_every_object_written_once(
    s3_bucket: str, flaky: FaultProxy
) -> None:
    from tlog.storage.s3 import S3Store

    store = S3Store(f"s3://{s3_bucket}/flaky", endpoint=flaky.url, backoff=0.01, tries=10)
    objects = {f"tile/0/{i:03d}": bytes([i % 256]) * 64 for i in range(200)}
    for k, v in objects.items():
        store.put(k, v)
    assert flaky.faults > 20
    direct = open_store(f"s3://{s3_bucket}/flaky")
    assert list(direct.list("tile/")) == sorted(objects)
    assert all(direct.get(k) == v for k, v in objects.items())


def test_permanent_failure_names_the_object_and_hides_secrets(
    s3_bucket: str, s3_env: dict[str, str], caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tlog.storage.s3 import S3Store

    caplog.set_level(logging.DEBUG)
    proxy = FaultProxy(s3_env["TLOG_S3_ENDPOINT"], fail=1.01)
    try:
        store = S3Store(f"s3://{s3_bucket}/dead", endpoint=proxy.url, backoff=0.001, tries=3)
        with pytest.raises(StoreError) as e:
            store.put("tile/0/123", b"x")
        assert "tile/0/123" in str(e.value)
    finally:
        proxy.close()
    dead = S3Store(f"s3://{s3_bucket}/dead", endpoint="http://127.0.0.1:9", backoff=0.001, tries=2)
    with pytest.raises(StoreError) as e2:
        dead.get("checkpoint")
    secret = S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    out = capsys.readouterr()
    for text in (str(e.value), repr(e.value), str(e2.value), repr(store), store.url, caplog.text,
                 out.out, out.err):
        assert secret not in text
        assert S3_CREDENTIALS["AWS_ACCESS_KEY_ID"] not in str(e.value)
