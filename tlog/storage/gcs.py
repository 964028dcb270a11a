"""Google Cloud Storage with generation preconditions.

Create-only ``put`` uploads with ``if_generation_match=0``; compare-and-swap uses the object's
generation as its version (``if_generation_match=<generation>``). The emulator is used when
``STORAGE_EMULATOR_HOST`` (or ``endpoint``) is set. Errors never carry credentials.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from tlog.errors import ConfigError, ConflictError, NotFoundError, StoreError

from .base import (
    Stats,
    Upload,
    bucket_parts,
    create_only,
    delete_many_parallel,
    get_many_parallel,
    put_many_parallel,
    store_location,
    upload_for,
)

__all__ = ["GCSStore"]

T = TypeVar("T")


class GCSStore:
    """Objects under ``gs://bucket/prefix``."""

    def __init__(self, url: str, *, endpoint: str | None = None) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        bucket, self.prefix = bucket_parts(url)
        if not bucket:
            raise ConfigError(f"GCS URL needs a bucket: {url!r}")
        self.url = store_location(url)
        endpoint = endpoint or os.environ.get("STORAGE_EMULATOR_HOST")
        if endpoint:
            self.client = storage.Client(project="tiledlog", credentials=AnonymousCredentials(),
                                         client_options={"api_endpoint": endpoint})
        else:
            self.client = storage.Client()
        self.bucket = self.client.bucket(bucket)
        self.stats = Stats()

    def __repr__(self) -> str:
        return f"GCSStore({self.url!r})"

    def _blob(self, key: str) -> Any:
        return self.bucket.blob(self.prefix + key)

    @staticmethod
    def _call(key: str, fn: Callable[[], T]) -> T:
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.NotFound:
            raise NotFoundError("not found", key=key) from None
        except gexc.PreconditionFailed:
            raise ConflictError("generation precondition failed", key=key) from None
        except gexc.GoogleAPIError as e:
            raise StoreError(f"GCS error: {type(e).__name__}", key=key) from None
        except OSError as e:
            raise StoreError(f"GCS transport error: {type(e).__name__}", key=key) from None

    def _upload(self, key: str, data: bytes, upload: Upload | None, **cond: int) -> str:
        up = upload or upload_for(key)
        blob = self._blob(key)
        blob.cache_control = up.cache_control
        self.stats.puts += 1
        self._call(key, lambda: blob.upload_from_string(data, content_type=up.content_type,
                                                        **cond))
        if blob.generation is None:
            raise StoreError("upload returned no generation", key=key)
        return str(blob.generation)

    def put(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        create_only(lambda: self._upload(key, data, upload, if_generation_match=0), self.get,
                    key, data)

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        put_many_parallel(self.put, items)

    def overwrite(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        self._upload(key, data, upload)

    def get(self, key: str) -> bytes:
        self.stats.gets += 1
        return self._call(key, self._blob(key).download_as_bytes)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        self.stats.gets += 1
        return self._call(key, lambda: self._blob(key).download_as_bytes(start=start, end=end - 1))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return get_many_parallel(self.get, keys, 16)

    def exists(self, key: str) -> bool:
        self.stats.heads += 1
        return bool(self._call(key, self._blob(key).exists))

    def list(self, prefix: str) -> Iterator[str]:
        self.stats.lists += 1
        names = self._call(prefix, lambda: [b.name for b in self.client.list_blobs(
            self.bucket, prefix=self.prefix + prefix)])
        return iter(sorted(n[len(self.prefix):] for n in names))

    def delete(self, key: str) -> None:
        self.stats.deletes += 1
        with contextlib.suppress(NotFoundError):
            self._call(key, self._blob(key).delete)

    def delete_many(self, keys: Sequence[str]) -> None:
        delete_many_parallel(self.delete, keys)

    def fetch(self, key: str) -> tuple[bytes, str]:
        self.stats.gets += 1
        blob = self._call(key, lambda: self.bucket.get_blob(self.prefix + key))
        if blob is None:
            raise NotFoundError("not found", key=key)
        generation = blob.generation  # read first: a download may reset the blob's properties
        data = self._call(key, lambda: blob.download_as_bytes(if_generation_match=generation))
        return data, str(generation)

    def create(self, key: str, data: bytes, upload: Upload | None = None) -> str:
        return self._upload(key, data, upload, if_generation_match=0)

    def replace(self, key: str, old_version: str, data: bytes, upload: Upload | None = None) -> str:
        if not old_version.isdigit():
            raise ConflictError("no generation to compare against", key=key)
        return self._upload(key, data, upload, if_generation_match=int(old_version))
