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
from urllib.parse import urlsplit

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
from .bounded import transport_reason
from .retry import Passing, with_retries

__all__ = ["GCSStore"]

T = TypeVar("T")
_TIMEOUT = 60.0  # seconds per request (connect, and each read)
_NO_RETRY: dict[str, Any] = {"retry": None, "timeout": _TIMEOUT}  # ours retry instead


class GCSStore:
    """Objects under ``gs://bucket/prefix``."""

    def __init__(self, url: str, *, endpoint: str | None = None, tries: int = 6,
                 backoff: float = 0.1) -> None:
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
            from google.auth import exceptions as gauth

            try:
                self.client = storage.Client()
            except gauth.DefaultCredentialsError as e:
                raise ConfigError(f"{url}: no usable Google credentials ({type(e).__name__}): set "
                                  "GOOGLE_APPLICATION_CREDENTIALS, or run with workload identity "
                                  "(in GitHub Actions: the auth step)") from None
        self.bucket = self.client.bucket(bucket)
        self.where = ((urlsplit(endpoint).netloc or endpoint) if endpoint
                      else "storage.googleapis.com")
        self.tries, self.backoff = tries, backoff
        self.stats = Stats()

    def __repr__(self) -> str:
        return f"GCSStore({self.url!r})"

    def _blob(self, key: str) -> Any:
        return self.bucket.blob(self.prefix + key)

    def _call(self, key: str, fn: Callable[[], T]) -> T:
        """``fn`` (a client call made with ``_NO_RETRY``), its failures in tiledlog's terms,
        retried as the S3 store's are: a few quick tries, then one line saying why. The
        client's own retries ran two minutes before a RetryError that named nothing, and
        held a daemon's SIGTERM as long."""
        import requests
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as gauth

        def attempt() -> T:
            try:
                return fn()
            except gexc.NotFound as e:
                if "bucket does not exist" in str(e).lower():
                    raise self._no_bucket() from None
                raise NotFoundError("not found", key=key) from None
            except gexc.PreconditionFailed:
                raise ConflictError("generation precondition failed", key=key) from None
            except (gexc.Forbidden, gexc.Unauthorized) as e:
                raise ConfigError(f"{self.url}: GCS refused these credentials ({e.code}) for "
                                  f"{key}: check the service account and its role on this "
                                  "bucket") from None
            except (gexc.TooManyRequests, gexc.ServerError) as e:
                raise Passing(StoreError(f"GCS {e.code}", key=key)) from None
            except gexc.GoogleAPIError as e:
                if getattr(e, "code", None) == 408:  # a request timeout: retried, as Google does
                    raise Passing(StoreError("GCS 408", key=key)) from None
                raise StoreError(f"GCS error: {type(e).__name__}", key=key) from None
            except gauth.RefreshError as e:  # the token could not be had: not the network's
                why = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
                raise ConfigError(f"{self.url}: GCS credentials could not be refreshed "
                                  f"({why[:120]}): check the service account or workload "
                                  "identity") from None
            except (requests.RequestException, gauth.TransportError, OSError) as e:
                raise Passing(StoreError(f"cannot reach {self.where}: "
                                         f"{transport_reason(e, _TIMEOUT)}")) from None

        return with_retries(attempt, tries=self.tries, backoff=self.backoff, give_up=lambda e:
                            StoreError(f"{e} (after {self.tries} tries)", key=key))

    def _upload(self, key: str, data: bytes, upload: Upload | None, **cond: int) -> str:
        up = upload or upload_for(key)
        blob = self._blob(key)
        blob.cache_control = up.cache_control
        self.stats.puts += 1
        self._call(key, lambda: blob.upload_from_string(data, content_type=up.content_type,
                                                        **cond, **_NO_RETRY))
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
        return self._call(key, lambda: self._blob(key).download_as_bytes(**_NO_RETRY))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        self.stats.gets += 1
        return self._call(key, lambda: self._blob(key).download_as_bytes(
            start=start, end=end - 1, **_NO_RETRY))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return get_many_parallel(self.get, keys, 16)

    def exists(self, key: str) -> bool:
        self.stats.heads += 1
        return bool(self._call(key, lambda: self._blob(key).exists(**_NO_RETRY)))

    def _no_bucket(self) -> ConfigError:
        return ConfigError(f"{self.url}: bucket {self.bucket.name!r} does not exist (or is not "
                           "visible to these credentials): create it, or fix the store URL")

    def list(self, prefix: str) -> Iterator[str]:
        self.stats.lists += 1
        try:
            names = self._call(prefix, lambda: [b.name for b in self.client.list_blobs(
                self.bucket, prefix=self.prefix + prefix, **_NO_RETRY)])
        except NotFoundError:  # a listing finds nothing with 200: a 404 is the bucket's
            raise self._no_bucket() from None
        return iter(sorted(n[len(self.prefix):] for n in names))

    def delete(self, key: str) -> None:
        self.stats.deletes += 1
        with contextlib.suppress(NotFoundError):
            self._call(key, lambda: self._blob(key).delete(**_NO_RETRY))

    def delete_many(self, keys: Sequence[str]) -> None:
        delete_many_parallel(self.delete, keys)

    def fetch(self, key: str) -> tuple[bytes, str]:
        self.stats.gets += 1
        blob = self._call(key, lambda: self.bucket.get_blob(self.prefix + key, **_NO_RETRY))
        if blob is None:
            raise NotFoundError("not found", key=key)
        generation = blob.generation  # read first: a download may reset the blob's properties
        data = self._call(key, lambda: blob.download_as_bytes(if_generation_match=generation,
                                                             **_NO_RETRY))
        return data, str(generation)

    def create(self, key: str, data: bytes, upload: Upload | None = None) -> str:
        return self._upload(key, data, upload, if_generation_match=0)

    def replace(self, key: str, old_version: str, data: bytes, upload: Upload | None = None) -> str:
        if not old_version.isdigit():
            raise ConflictError("no generation to compare against", key=key)
        return self._upload(key, data, upload, if_generation_match=int(old_version))
