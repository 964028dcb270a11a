"""A log read over HTTP(S), for clients: keep-alive, bounded retries, a disk cache of immutable
objects (full tiles and bundles, index objects), range reads, and every answer bounded in size
and time and kept to the log's origin (``bounded``). Writing raises ``StoreError``."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tlog.errors import ConfigError, HostileResponseError, NotFoundError, StoreError

from .base import Stats, Upload, get_many_parallel
from .bounded import bounded_get, fit_session, limit_for, transport_reason
from .files import write_atomic
from .retry import Passing, with_retries

__all__ = ["HTTPStore"]

_IMMUTABLE = re.compile(
    r"(tile/(?:entries/)?(?:x\d{3}/)*\d{3}|tile/\d+/(?:x\d{3}/)*\d{3}|index/.+)"
)
_RETRY_STATUS = {429, 500, 502, 503, 504}


class HTTPStore:
    """GET-only access to a log published at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        tries: int = 5,
        timeout: float = 30.0,
        backoff: float = 0.2,
    ) -> None:
        parts = urlsplit(url)
        if parts.query or parts.fragment:  # objects are fetched at <url>/<path>: it would
            raise ConfigError(f"{url}: a log's URL is the prefix of its files, with no query "
                              "or fragment (e.g. https://log.example/path)")  # land inside it
        self.url = url.rstrip("/")
        self.stats = Stats()
        self.cache = (
            Path(cache_dir) / hashlib.sha256(self.url.encode()).hexdigest()[:16]
            if cache_dir
            else None
        )
        self.tries, self.timeout, self.backoff = tries, timeout, backoff
        self.session = requests.Session()
        fit_session(self.session)  # before any thread shares it
        self.session.headers["Accept-Encoding"] = "gzip, identity"
        self.session.headers["User-Agent"] = "tiledlog"

    def __repr__(self) -> str:
        return f"HTTPStore({self.url!r})"

    def _request(self, key: str, headers: dict[str, str] | None = None,
                 stop: int | None = None) -> tuple[requests.Response, bytes]:
        """GET one object with bounded retries of passing failures; the body is bounded
        (``bounded.limit_for``) and a hostile answer is not retried."""
        limit = limit_for(key) if stop is None else min(limit_for(key), stop)

        def attempt() -> tuple[requests.Response, bytes]:
            self.stats.gets += 1
            try:
                resp, body = bounded_get(self.session, f"{self.url}/{key}", key, limit,
                                         headers, stop)
            except (requests.RequestException, StoreError) as e:
                raise Passing(e) from e
            if resp.status_code == 404:
                raise NotFoundError("not found (HTTP 404)", key=key)
            if resp.status_code in _RETRY_STATUS:
                raise Passing(StoreError(f"HTTP {resp.status_code}", key=key))
            if resp.status_code not in (200, 206):
                raise StoreError(f"HTTP {resp.status_code}", key=key)
            self.stats.bytes_read += len(body)
            return resp, body

        where = urlsplit(self.url).netloc or self.url
        return with_retries(attempt, tries=self.tries, backoff=self.backoff, give_up=lambda e:
                            StoreError(f"cannot reach {where}: {transport_reason(e)} "
                                       f"(after {self.tries} tries)", key=key))

    def _cached(self, key: str) -> Path | None:
        if self.cache is None or not _IMMUTABLE.fullmatch(key):
            return None
        return self.cache / key

    def get(self, key: str) -> bytes:
        local = self._cached(key)
        if local is not None and local.is_file():
            return local.read_bytes()
        _, data = self._request(key)
        if local is not None:  # a cache: losing it in a crash costs a fetch, so not synced
            local.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(local, data, durable=False)
        return data

    def evict(self, key: str) -> None:
        """Forget a cached object (the client calls this when a tile failed authentication)."""
        local = self._cached(key)
        if local is not None:
            local.unlink(missing_ok=True)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        local = self._cached(key)
        if local is not None and local.is_file():
            with open(local, "rb") as f:
                f.seek(start)
                return f.read(end - start)
        # A server that ignores Range sends the whole object: read it only up to ``end``.
        # identity: a server may apply the range to a compressed form of the object
        resp, body = self._request(key, {"Range": f"bytes={start}-{end - 1}",
                                         "Accept-Encoding": "identity"}, stop=end)
        if resp.status_code == 206:
            if len(body) > end - start:
                raise HostileResponseError(f"{key}: {len(body)} bytes for a range of "
                                           f"{end - start}")
            return body
        return body[start:end]

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return get_many_parallel(self.get, keys, 8)

    def exists(self, key: str) -> bool:
        try:
            self.get(key)
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        raise StoreError("an HTTP log cannot be listed", key=prefix)

    def _read_only(self, key: str, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("the HTTP store is read-only", key=key)

    def put(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        self._read_only(key)

    overwrite = put

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self._read_only(items[0][0] if items else "")

    def delete(self, key: str) -> None:
        self._read_only(key)

    def delete_many(self, keys: Sequence[str]) -> None:
        self._read_only(keys[0] if keys else "")

    def fetch(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, hashlib.sha256(data).hexdigest()

    create = _read_only
    replace = _read_only
