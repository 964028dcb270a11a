#!/usr/bin/env python3
"""Check that an entry is in a tiledlog (or any C2SP tlog-tiles log), trusting no server.

One file, Python 3.9+ standard library plus ``cryptography`` (pip install cryptography).
Fetch it and run it; it does not need tiledlog installed::

    curl -fsSO https://raw.githubusercontent.com/…/scripts/verify_inclusion.py
    python3 verify_inclusion.py https://log.example.com "example.com/log+1234abcd+AQ…" --index 42
    python3 verify_inclusion.py https://log.example.com log.pub --leaf-hash 5f3c…
    python3 verify_inclusion.py https://log.example.com log.pub --entry entry.bin

Steps: fetch ``checkpoint`` and verify the log's Ed25519 signature (c2sp.org/signed-note) with
the verifier key; find the entry's index (given, or looked up in the log's static index
``index/manifest/<size>``, which is untrusted); fetch the entry bundle and the hash tiles the
inclusion proof needs; recompute the leaf hash from the entry bytes and check the RFC 6962
inclusion proof against the signed root.

Exit status: 0 verified; 3 a check failed (signature, proof, entry mismatch, not in the log),
or the server sent what no honest log sends (an object over the most it can hold, or not
complete within $TLOG_HTTP_TIMEOUT seconds, default 60); 2 bad arguments; 1 the log could not
be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import hashlib
import http.client
import io
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # the one package beside the standard library: say so, in one line
    sys.stderr.write("error: this script needs the cryptography package (Ed25519): "
                     "python3 -m pip install cryptography\n")
    sys.exit(2)

WIDTH = 256  # hashes per full tile (tile height 8)


class Failed(Exception):
    """A verification check failed (exit 3)."""


class Unreadable(Exception):
    """The log could not be read (exit 1)."""


# ----- fetching ----------------------------------------------------------------------------


class Log:
    """Reads objects from a log URL prefix (or a local folder), counting requests."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")
        self.requests = 0

    def get(self, path: str, byte_range: tuple[int, int] | None = None) -> bytes | None:
        """The object's bytes, ``None`` if it does not exist (``byte_range``: [start, end))."""
        self.requests += 1
        if not self.prefix.startswith(("http://", "https://")):
            try:
                with open(os.path.join(self.prefix, path), "rb") as f:
                    data = f.read()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None
            return data[byte_range[0] : byte_range[1]] if byte_range else data
        # Untrusted bytes are read up to what the object can hold (a range's length, or the most
        # such an object can be) and within the deadline; past either the server is hostile.
        limit = byte_range[1] - byte_range[0] if byte_range else _limit(path)
        if limit > MAX_READ:
            raise Failed(f"{path}: the index names a block of {limit} bytes: more than an "
                         "honest log's index holds")
        req = urllib.request.Request(f"{self.prefix}/{path}", headers={
            # A range of the identity encoding: a range of gzip bytes does not inflate alone.
            "Accept-Encoding": "identity" if byte_range else "gzip, identity"})
        if byte_range:
            req.add_header("Range", f"bytes={byte_range[0]}-{byte_range[1] - 1}")
        _Head.path, _Head.deadline = path, time.monotonic() + _deadline_seconds()
        deadline = _Head.deadline
        try:
            with _OPENER.open(req, timeout=_deadline_seconds()) as resp:
                ignored = bool(byte_range) and resp.status == 200  # the server ignored Range
                if ignored:
                    if byte_range[1] > MAX_READ:  # type: ignore[index]
                        raise Unreadable(f"{path}: the server ignores Range requests, which "
                                         "an index this large needs")
                    limit = byte_range[1]  # type: ignore[index]
                gzip = resp.headers.get("Content-Encoding", "").strip().lower() == "gzip"
                data = _read(resp, limit, path, gzip, ignored, deadline)
                return data[byte_range[0] : byte_range[1]] if ignored else data  # type: ignore[index]
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                return None
            if 300 <= e.code < 400:  # redirects that never end: no honest log sends them
                raise Failed(f"{path}: redirected in a loop (HTTP {e.code})") from e
            raise Unreadable(f"{path}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise Unreadable(f"{path}: {e}") from e


MAX_READ = 256 << 20  # the most one answer is read to (an index block of a 10^10-entry log)


def _deadline_seconds() -> float:
    """$TLOG_HTTP_TIMEOUT: seconds an answer may take, whole (60 if unset or not a number)."""
    try:
        t = float(os.environ.get("TLOG_HTTP_TIMEOUT") or 60)
    except ValueError:
        return 60.0
    return t if 0 < t < 86400 else 60.0


def _read(resp: Any, limit: int, path: str, gzip: bool, stop: bool, deadline: float) -> bytes:
    """The body of an answer: at most ``limit`` bytes (inflated, for gzip), by ``deadline``
    however slowly they come, and whole (a body cut short cannot be read). ``stop``: the first
    ``limit`` bytes are all that is wanted (a range the server ignored)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    out, got = [], 0
    while True:
        chunk = resp.read1(1 << 16)
        if not chunk:
            break
        if inflate is not None:
            try:
                chunk = inflate.decompress(chunk, limit + 1 - got)
            except zlib.error as e:
                raise Unreadable(f"{path}: not gzip as its Content-Encoding says: {e}") from e
        out.append(chunk)
        got += len(chunk)
        if got > limit or (inflate is not None and inflate.unconsumed_tail):
            if stop:
                break
            raise Failed(f"{path}: more than {limit} bytes: no honest log sends that")
        if time.monotonic() > deadline:
            raise Failed(f"{path}: too slow: not complete within the deadline "
                         "($TLOG_HTTP_TIMEOUT): no honest log sends that")
    if not stop and ((resp.length or 0) > 0 or (inflate is not None and not inflate.eof)):
        raise Unreadable(f"{path}: the answer was cut short")
    return b"".join(out)[:limit] if stop else b"".join(out)


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect within the log's origin without reading its body; another origin
    is what no honest log does (a redirect's body was read whole, unbounded)."""

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        new = urllib.parse.urljoin(req.full_url, headers.get("Location", ""))
        fp.close()
        if urllib.parse.urlsplit(new)[:2] != urllib.parse.urlsplit(req.full_url)[:2]:
            raise Failed(f"{req.full_url}: redirected to another origin ({new[:100]}): no "
                         "honest log does that")
        return super().http_error_302(req, io.BytesIO(), code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _Head:
    """The status line and headers of an answer must come by the object's deadline too: the
    socket's timeout bounds each read only, so a head sent a byte at a time was waited for
    for ever. A timer shuts the socket down at the deadline, which ends the read."""

    path, deadline = "", 0.0

    @staticmethod
    def within(conn: http.client.HTTPConnection, getresponse: Any) -> Any:
        cut = []

        def expire() -> None:
            cut.append(True)
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

        # The socket's own timeout ends at the deadline, the timer a second later: a server
        # that sends nothing meets the timeout, which is "cannot read" (exit 1), not a verdict.
        left = _Head.deadline - time.monotonic()
        conn.sock.settimeout(max(0.001, left))
        timer = threading.Timer(max(0.0, left + 1), expire)
        timer.daemon = True
        timer.start()
        try:
            resp = getresponse()
        except (OSError, http.client.HTTPException):
            if cut:
                resp = None
            else:
                raise
        finally:
            timer.cancel()
        if cut:  # a head cut off reads as a whole one, with no body
            raise Failed(f"{_Head.path}: too slow: the answer's status line and headers were not "
                         "complete within the deadline ($TLOG_HTTP_TIMEOUT): no honest log "
                         "sends that")
        return resp


class _HTTP(http.client.HTTPConnection):
    def getresponse(self) -> http.client.HTTPResponse:
        return _Head.within(self, super().getresponse)


class _HTTPS(http.client.HTTPSConnection):
    def getresponse(self) -> http.client.HTTPResponse:
        return _Head.within(self, super().getresponse)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_HTTP, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_HTTPS, req, context=self._context)  # type: ignore[attr-defined]


_OPENER = urllib.request.build_opener(_SameOrigin, _HTTPHandler, _HTTPSHandler)


def _limit(path: str) -> int:
    """The most bytes an object of the log at ``path`` can hold."""
    if path.startswith("tile/entries/"):
        return WIDTH * (2 + 65535)  # 256 entries of at most 64 KiB, each with its length
    if path.startswith("tile/"):
        return 32 * WIDTH
    if path.startswith("index/"):
        return 64 << 20  # a manifest: about 200 KB at 10^8 entries
    return 1 << 20  # the checkpoint


# ----- signed note and checkpoint ----------------------------------------------------------


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 public key) from ``name+hexid+base64(0x01 ‖ key)``."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise ValueError("verifier key must be name+id+base64")
    name, key_id = parts[0], bytes.fromhex(parts[1])
    raw = base64.b64decode(parts[2], validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError("verifier key is not an Ed25519 (type 0x01) key")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if want != key_id:
        raise ValueError("verifier key id does not match the key")
    return name, key_id, raw[1:]


def open_checkpoint(note: bytes, vkey: str, origin: str | None) -> tuple[int, bytes]:
    """Verify the log's signature on a checkpoint note; return (tree size, root hash)."""
    name, key_id, public = parse_vkey(vkey)
    try:
        text, _, sigs = note.decode("utf-8").rpartition("\n\n")
    except UnicodeDecodeError as e:
        raise Failed("checkpoint is not UTF-8") from e
    text += "\n"
    verified = False
    for line in sigs.split("\n")[:-1] if sigs.endswith("\n") else []:
        sig_name, _, b64 = line.removeprefix("— ").partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if sig_name != name or raw[:4] != key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Failed(f"checkpoint: invalid signature by {name}") from None
        verified = True
    if not verified:
        raise Failed(f"checkpoint: no signature by the log key {name}")
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != (origin or name) or not lines[1].isdigit():
        raise Failed(f"checkpoint: not a checkpoint of origin {origin or name}")
    root = base64.b64decode(lines[2])
    if len(root) != 32:
        raise Failed("checkpoint: root hash is not 32 bytes")
    return int(lines[1]), root


# ----- Merkle tree from tiles --------------------------------------------------------------


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def tile_path(level: int | str, n: int, width: int) -> str:
    """tile/<L>/<N>[.p/<W>] with N in x-prefixed groups of three digits (c2sp.org/tlog-tiles)."""
    s = f"{n % 1000:03d}"
    n //= 1000
    while n:
        s = f"x{n % 1000:03d}/{s}"
        n //= 1000
    p = f"tile/{level}/{s}"
    return p if width == WIDTH else f"{p}.p/{width}"


class Tiles:
    """Node hashes of the tree of ``size`` read from hash tiles (unverified until the proof)."""

    def __init__(self, log: Log, size: int) -> None:
        self.log, self.size, self.cache = log, size, {}

    def tile(self, level: int | str, n: int) -> bytes:
        count = self.size >> (8 * level) if level != "entries" else self.size
        width = WIDTH if n < count // WIDTH else count % WIDTH
        if (level, n) not in self.cache:
            data = self.log.get(tile_path(level, n, width))
            if data is None and width != WIDTH:  # the partial tile may be gone: use the full one
                data = self.log.get(tile_path(level, n, WIDTH))
            if data is None:
                raise Unreadable(f"{tile_path(level, n, width)}: not found")
            self.cache[(level, n)] = (width, data)
        return self.cache[(level, n)]

    def node(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2^height leaves starting at index·2^height."""
        level, rest = divmod(height, 8)
        first = index << rest
        width, data = self.tile(level, first // WIDTH)
        if len(data) not in (32 * width, 32 * WIDTH):
            raise Failed(f"{tile_path(level, first // WIDTH, width)}: wrong length {len(data)}")
        off = first % WIDTH
        hashes = [data[32 * i : 32 * i + 32] for i in range(off, off + (1 << rest))]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def range_hash(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi), an aligned range: fold its perfect subtrees right to left."""
        parts = []
        while lo < hi:
            k = (hi - lo).bit_length() - 1
            while lo % (1 << k):
                k -= 1
            parts.append(self.node(k, lo >> k))
            lo += 1 << k
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node_hash(h, acc)
        return acc

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 6962 audit path of ``index``, leaf's sibling first."""
        proof, lo, hi = [], 0, self.size
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                proof.append(self.range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.range_hash(lo, lo + k))
                lo += k
        return proof[::-1]

    def entry(self, index: int) -> bytes:
        """Entry ``index`` from its entry bundle (uint16 length ‖ bytes, exactly W entries)."""
        n = index // WIDTH
        width, data = self.tile("entries", n)
        entries, pos = [], 0
        while pos + 2 <= len(data):
            size = int.from_bytes(data[pos : pos + 2], "big")
            entries.append(data[pos + 2 : pos + 2 + size])
            pos += 2 + size
        if pos != len(data) or len(entries) not in (width, WIDTH):
            raise Failed(f"{tile_path('entries', n, width)}: malformed entry bundle")
        return entries[index % WIDTH]


def check_inclusion(proof: list[bytes], index: int, size: int, leaf: bytes, root: bytes) -> None:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Failed("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise Failed(f"inclusion proof for entry {index} does not lead to the signed root")


# ----- the static lookup index (leaf hash → index), untrusted ------------------------------


def lookup(log: Log, size: int, key: bytes) -> list[int]:
    """Indexes the log's index proposes for a leaf hash: sorted records of the key's first 8
    bytes and a 40-bit index (13 bytes; a version-1 manifest's: the whole key and a 64-bit
    index, 40 bytes). Each level is read by one range request of the block its fence keys
    (every stride-th record's first 8 bytes, in the manifest) leave. Candidates only: the
    caller checks each entry's leaf hash."""
    if not size:  # an empty tree holds nothing, and a new log has no index yet
        return []
    data = log.get(f"index/manifest/{size}")
    if data is None:
        raise Unreadable(f"index/manifest/{size}: the log has no index for its tree size")
    try:
        doc = json.loads(data)
        version = doc["version"]
        if type(version) is int and version > 2:
            raise Unreadable(f"index/manifest/{size}: index format version {version} is newer "
                             "than this script reads: fetch verify_inclusion.py again")
        if type(version) is not int or version not in (1, 2):
            raise ValueError(f"unsupported version {version!r}")
        by_shard = doc["shards"] if version == 1 else doc["levels"]
        refs = [_level(r, version) for r in by_shard[key[0] >> 4] if r]
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as e:
        raise Failed(f"index/manifest/{size}: malformed ({e})") from e
    except RecursionError as e:  # json.loads recurses once per nesting level
        raise Failed(f"index/manifest/{size}: malformed (nested too deeply)") from e
    found = []
    for path, count, rs, fences, stride in refs:
        kl, want = (32 if rs == 40 else 8), key[: 32 if rs == 40 else 8]
        if fences or count <= 4096:
            lo, hi = 0, count
            if fences:  # the records whose first 8 bytes are the key's lie between two fences
                lo = max(0, bisect.bisect_left(fences, key[:8]) - 1) * stride
                hi = min(count, bisect.bisect_right(fences, key[:8]) * stride)
            block = (log.get(path, (rs * lo, rs * hi)) or b"") if hi > lo else b""

            def record(i: int, block: bytes = block, rs: int = rs) -> bytes:
                return block[rs * i : rs * i + rs]

            count = len(block) // rs
        else:  # a large level of a manifest from before fence keys: one request per probe

            def record(i: int, path: str = path, rs: int = rs) -> bytes:
                return log.get(path, (rs * i, rs * i + rs)) or b""

        lo, hi = 0, count
        while lo < hi:  # binary search: the first record whose key is >= the wanted key
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if record(mid)[:kl] < want else (lo, mid)
        while lo < count and record(lo)[:kl] == want:
            found.append(int.from_bytes(record(lo)[kl:rs], "big"))
            lo += 1
    return sorted(set(found))


def _level(ref: dict, version: int) -> tuple[str, int, int, list[bytes], int]:
    """(path, records, record size, fence keys, stride) of a manifest's level object."""
    path, count = ref["path"], ref["records"]
    rs = 40 if version == 1 else ref["record"]
    if not isinstance(path, str) or not path.startswith("index/") or ".." in path:
        raise ValueError("bad index object path")
    if type(count) is not int or not 0 <= count <= 1 << 40 or type(rs) is not int or rs not in (
            13, 40):
        raise ValueError("bad record count or size")
    raw, stride = base64.b64decode(ref.get("fences", ""), validate=True), ref.get("stride", 0)
    fences = [raw[i : i + 8] for i in range(0, len(raw), 8)]
    if raw and (len(raw) % 8 or type(stride) is not int or stride < 1
                or len(fences) != -(-count // stride)):
        raise ValueError("fence keys do not match the record count")
    return path, count, rs, fences, stride


# ----- main --------------------------------------------------------------------------------


def verify(log: Log, vkey: str, origin: str | None, index: int | None,
           leaf: bytes | None, entry: bytes | None) -> tuple[int, int, bytes]:
    note = log.get("checkpoint")
    if note is None:
        raise Unreadable("checkpoint: not found")
    size, root = open_checkpoint(note, vkey, origin)
    tiles = Tiles(log, size)
    want = leaf_hash(entry) if entry is not None else leaf
    candidates = [index] if index is not None else lookup(log, size, want)
    for i in candidates:
        if not 0 <= i < size:
            continue
        logged = tiles.entry(i)
        if want is not None and leaf_hash(logged) != want:
            continue
        check_inclusion(tiles.inclusion_proof(i), i, size, leaf_hash(logged), root)
        return i, size, leaf_hash(logged)
    if index is not None:
        raise Failed(f"entry {index} is not in the log (tree size {size})")
    raise Failed(f"no entry with leaf hash {want.hex()} in the log at tree size {size} "
                 "(according to its index, which this script cannot check for omissions)")


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log", help="the log's URL prefix (https://…) or a local folder")
    p.add_argument("vkey", help="the log's verifier key, or a file holding it")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--index", type=int, help="the entry's index")
    g.add_argument("--leaf-hash", help="the entry's leaf hash, 64 hex digits")
    g.add_argument("--entry", help="a file holding the exact entry bytes")
    p.add_argument("--origin", help="expected checkpoint origin (default: the key's name)")
    args = p.parse_args(argv)
    if args.index is not None and args.index < 0:
        p.error("--index: an entry's index is 0 or more")
    try:
        vkey = read_file(args.vkey).decode() if os.path.isfile(args.vkey) else args.vkey
        parse_vkey(vkey)
        leaf = bytes.fromhex(args.leaf_hash) if args.leaf_hash else None
        if leaf is not None and len(leaf) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        entry = read_file(args.entry) if args.entry else None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = Log(args.log)
    try:
        index, size, leaf = verify(log, vkey, args.origin, args.index, leaf, entry)
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 3
    except Unreadable as e:
        print(f"error: cannot read the log: {e}", file=sys.stderr)
        return 1
    print(f"OK: entry {index} (leaf hash {leaf.hex()}) is in the log at tree size {size} "
          f"({log.requests} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
