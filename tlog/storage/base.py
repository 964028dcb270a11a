"""The two storage interfaces and the upload settings per kind of object.

``ObjectStore`` holds immutable files: ``put`` is create-only and idempotent (the same bytes
again succeed; different bytes raise ``ConflictError``, which is how a second writer is caught).
``CASStore`` holds the one mutable object that decides what the log is (the lock): ``fetch``,
``create`` and ``replace(old_version, …)``. Every backend implements both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CHECKPOINT",
    "CSS",
    "FULL_TILE",
    "HTML",
    "JS",
    "JSON",
    "PARTIAL_TILE",
    "PRIVATE",
    "CASStore",
    "ObjectStore",
    "Stats",
    "Upload",
    "upload_for",
]


def bucket_parts(url: str) -> tuple[str, str]:
    """(bucket, prefix) of an ``s3://`` or ``gs://`` URL as the stores read it: the prefix
    without slashes at either end, '/'-terminated unless empty."""
    bucket, _, prefix = url.split("://", 1)[1].partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def store_location(url: str) -> str:
    """A store URL as the store it opens reads it (``s3://b//p/`` is ``s3://b/p``,
    ``file:///srv/log`` is ``/srv/log``), so that two URLs can be compared; anything else as
    given."""
    if url.startswith(("s3://", "gs://")):
        bucket, prefix = bucket_parts(url)
        return f"{url.split('://', 1)[0]}://{bucket}/{prefix}".rstrip("/")
    return url.removeprefix("file://")


@dataclass(frozen=True)
class Upload:
    """HTTP metadata an object is published with."""

    content_type: str
    cache_control: str


FULL_TILE = Upload("application/octet-stream", "public, max-age=31536000, immutable")
PARTIAL_TILE = Upload("application/octet-stream", "public, max-age=60")
CHECKPOINT = Upload("text/plain; charset=utf-8", "no-cache")
HTML = Upload("text/html; charset=utf-8", "public, max-age=60")
JSON = Upload("application/json", "public, max-age=60")
JS = Upload("text/javascript; charset=utf-8", "public, max-age=300")
CSS = Upload("text/css; charset=utf-8", "public, max-age=300")
INDEX = Upload("application/octet-stream", "public, max-age=31536000, immutable")
PRIVATE = Upload("application/octet-stream", "no-store")
TEXT = Upload("text/plain; charset=utf-8", "public, max-age=60")

_PARTIAL = re.compile(r"tile/.*\.p/\d+$")


def upload_for(key: str) -> Upload:
    """The upload settings of an object, by its path in the log."""
    if key == "checkpoint":
        return CHECKPOINT
    if key.startswith("tile/"):
        return PARTIAL_TILE if _PARTIAL.match(key) else FULL_TILE
    if key.startswith("index/"):
        return INDEX
    if key.startswith(("pending/", "queue/", "rejected/", "sequencer/")):
        return PRIVATE
    for suffix, up in ((".html", HTML), (".json", JSON), (".js", JS), (".css", CSS)):
        if key.endswith(suffix):
            return up
    return TEXT


@dataclass
class Stats:
    """Requests actually sent, by kind (tests count them)."""

    gets: int = 0
    puts: int = 0
    lists: int = 0
    deletes: int = 0
    heads: int = 0
    links: int = 0  # a folder's hard-link copies (LocalStore.link_many)
    bytes_read: int = 0  # object bytes received (a cache's hits are not requests)


class ObjectStore(Protocol):
    url: str
    stats: Stats

    def put(self, key: str, data: bytes, upload: Upload | None = None) -> None: ...
    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None: ...
    def overwrite(self, key: str, data: bytes, upload: Upload | None = None) -> None: ...
    def get(self, key: str) -> bytes: ...
    def get_range(self, key: str, start: int, end: int) -> bytes: ...
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def delete_many(self, keys: Sequence[str]) -> None: ...


class CASStore(Protocol):
    def fetch(self, key: str) -> tuple[bytes, str]: ...
    def create(self, key: str, data: bytes, upload: Upload | None = None) -> str: ...
    def replace(
        self, key: str, old_version: str, data: bytes, upload: Upload | None = None
    ) -> str: ...


def get_many_parallel(
    get: Callable[[str], bytes], keys: Sequence[str], workers: int = 16
) -> list[bytes | None]:
    """``get`` for many keys on a thread pool, in order; ``None`` where an object is missing."""
    from tlog.errors import NotFoundError

    def one(k: str) -> bytes | None:
        try:
            return get(k)
        except NotFoundError:
            return None

    if len(keys) <= 1:
        return [one(k) for k in keys]
    with ThreadPoolExecutor(min(workers, len(keys))) as pool:
        return list(pool.map(one, keys))


def put_many_parallel(put: Callable[[str, bytes], None], items: Sequence[tuple[str, bytes]],
                      workers: int = 16) -> None:
    """``put`` (create-only) for many objects on a thread pool; the first error is raised
    once all have been tried."""
    if len(items) <= 1:
        for k, d in items:
            put(k, d)
        return
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        list(pool.map(lambda kd: put(*kd), items))


def delete_many_parallel(delete: Callable[[str], None], keys: Sequence[str],
                         workers: int = 16) -> None:
    """``delete`` for many keys on a thread pool (stores with no batch delete)."""
    if len(keys) <= 1:
        for k in keys:
            delete(k)
        return
    with ThreadPoolExecutor(min(workers, len(keys))) as pool:
        list(pool.map(delete, keys))


def create_only(
    create: Callable[[], object], get: Callable[[str], bytes], key: str, data: bytes
) -> None:
    """Create-only write: the same bytes already there is success, other bytes a conflict.

    An object that vanishes between the failed create and the read-back (another writer
    deleted it) is created again.
    """
    from tlog.errors import ConflictError, NotFoundError

    for _ in range(5):
        try:
            create()
            return
        except ConflictError:
            try:
                existing = get(key)
            except NotFoundError:
                continue
            if existing != data:
                raise ConflictError("exists with different content", key=key) from None
            return
    raise ConflictError("created and deleted concurrently, repeatedly", key=key)
