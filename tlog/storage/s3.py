"""S3 (and compatible: MinIO, R2, moto) with conditional writes.

Create-only ``put`` is ``PutObject`` with ``If-None-Match: *``; a 412 means the key exists, and
it is then compared with the bytes we meant to write (same bytes: success, so retries are
idempotent). Compare-and-swap is ``If-Match: <etag>``. Errors never carry credentials.
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
    get_many_parallel,
    put_many_parallel,
    store_location,
    upload_for,
)
from .bounded import transport_reason
from .retry import Passing, with_retries

__all__ = ["S3Store"]

T = TypeVar("T")
_PASSING = {
    "SlowDown",
    "Throttling",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}


class _Incomplete(Exception):
    """A GET's body did not arrive whole (retried with a new GET)."""


_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
           "InvalidToken", "AllAccessDisabled"}


class S3Store:
    """Objects under ``s3://bucket/prefix``."""

    def __init__(
        self, url: str, *, endpoint: str | None = None, tries: int = 6, backoff: float = 0.1
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket_parts(url)
        if not self.bucket:
            raise ConfigError(f"S3 URL needs a bucket: {url!r}")
        self.url = store_location(url)
        endpoint = (
            endpoint or os.environ.get("TLOG_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        )
        cfg = Config(
            retries={"total_max_attempts": 1},  # one policy: tlog.storage.retry
            max_pool_connections=32,
            connect_timeout=10,
            read_timeout=60,
        )
        self.client = boto3.client("s3", endpoint_url=endpoint, config=cfg)
        self.stats = Stats()
        self.tries, self.backoff = tries, backoff

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _call(self, key: str, fn: Callable[[], T]) -> T:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
        )

        def attempt() -> T:
            try:
                return fn()
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code == "NoSuchBucket":
                    raise ConfigError(f"{self.url}: bucket {self.bucket!r} does not exist (or "
                                      "is not visible to these credentials): create it, or "
                                      "fix the store URL") from None
                if code == "RequestTimeTooSkewed":  # a 403 too, but not the credentials'
                    raise ConfigError(f"{self.url}: S3 says this machine's clock is off "
                                      "(RequestTimeTooSkewed): set it right (NTP), then "
                                      "try again") from None
                if code in _DENIED or status == 403:
                    raise ConfigError(f"{self.url}: S3 refused these credentials "
                                      f"({code or status}) for {key}: check the role or keys "
                                      "and their permissions on this bucket and prefix"
                                      ) from None
                if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                    raise NotFoundError("not found", key=key) from None
                if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (
                    412,
                    409,
                ):
                    raise ConflictError(
                        f"precondition failed ({code or status})", key=key
                    ) from None
                if code in _PASSING or status >= 500 or status == 429:
                    raise Passing(StoreError(f"S3 {code or status}", key=key)) from None
                raise StoreError(f"S3 error {code or status}", key=key) from None
            except (NoCredentialsError, PartialCredentialsError) as e:
                raise ConfigError(f"{self.url}: no usable AWS credentials ({type(e).__name__}): "
                                  "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
                                  "a role (in GitHub Actions: the OIDC credentials step)"
                                  ) from None
            except ParamValidationError as e:  # our request is wrong: retrying cannot help
                raise ConfigError(f"{self.url}: S3 rejected the request for {key} before "
                                  f"sending it: {str(e).splitlines()[-1][:200]} (is boto3 "
                                  "recent enough? conditional writes need boto3 >= 1.35.76)"
                                  ) from None
            except BotoCoreError as e:
                where = urlsplit(self.client.meta.endpoint_url).netloc or "S3"
                raise Passing(StoreError(f"cannot reach {where}: {transport_reason(e)}")) from None
            except _Incomplete as e:
                raise Passing(StoreError(f"S3 response cut short: {e}")) from None

        return with_retries(attempt, tries=self.tries, backoff=self.backoff, give_up=lambda e:
                            StoreError(f"{e} (after {self.tries} tries)", key=key))

    def _put(self, key: str, data: bytes, upload: Upload | None, **cond: str) -> str:
        up = upload or upload_for(key)
        self.stats.puts += 1
        resp = self._call(
            key,
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=up.content_type,
                CacheControl=up.cache_control,
                **cond,
            ),
        )
        return str(resp.get("ETag", ""))

    def put(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        create_only(lambda: self._put(key, data, upload, IfNoneMatch="*"), self.get, key, data)

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        put_many_parallel(self.put, items)

    def overwrite(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        self._put(key, data, upload)

    def _get(self, key: str, **kw: str) -> dict[str, Any]:
        self.stats.gets += 1

        def fetch() -> dict[str, Any]:
            # The request and the read of its body are one attempt: a body cut off mid-way
            # is retried with a new GET (re-reading the dead stream could only fail again).
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **kw)
            data = resp["Body"].read()
            # A connection dropped inside the headers reads as a complete, empty 200 (the
            # HTTP parser takes EOF for the blank line): S3 always says how long the body is.
            if resp.get("ContentLength") != len(data):
                raise _Incomplete(f"{len(data)} of {resp.get('ContentLength')} bytes")
            return {"data": data, "etag": resp.get("ETag", "")}

        return self._call(key, fetch)

    def get(self, key: str) -> bytes:
        return self._get(key)["data"]

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            return self._get(key, Range=f"bytes={start}-{end - 1}")["data"]
        except StoreError as e:
            if "InvalidRange" in str(e):  # S3's answer for a range of an empty object
                return b""
            raise

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return get_many_parallel(self.get, keys, 16)

    def exists(self, key: str) -> bool:
        self.stats.heads += 1
        try:
            self._call(key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        out: list[str] = []
        token: dict[str, str] = {}
        while True:
            self.stats.lists += 1
            resp = self._call(
                prefix,
                lambda t=dict(token): self.client.list_objects_v2(
                    Bucket=self.bucket, Prefix=self._key(prefix), **t
                ),
            )
            out += [o["Key"][len(self.prefix) :] for o in resp.get("Contents", [])]
            if not resp.get("IsTruncated"):
                break
            token = {"ContinuationToken": resp["NextContinuationToken"]}
        return iter(sorted(out))

    def delete(self, key: str) -> None:
        self.stats.deletes += 1
        with contextlib.suppress(NotFoundError):
            self._call(
                key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
            )

    def delete_many(self, keys: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys a request; keys that were already gone are fine."""
        for start in range(0, len(keys), 1000):
            part = keys[start : start + 1000]
            self.stats.deletes += 1
            resp = self._call(part[0], lambda part=part: self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in part], "Quiet": True}))
            errors = [e for e in resp.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StoreError(f"delete failed: {first.get('Code')} {first.get('Message')}"
                                 f" ({len(errors)} of {len(part)} keys)",
                                 key=first.get("Key", "")[len(self.prefix):])

    def fetch(self, key: str) -> tuple[bytes, str]:
        got = self._get(key)
        return got["data"], got["etag"]

    def create(self, key: str, data: bytes, upload: Upload | None = None) -> str:
        return self._put(key, data, upload, IfNoneMatch="*")

    def replace(self, key: str, old_version: str, data: bytes, upload: Upload | None = None) -> str:
        if not old_version:
            raise ConflictError("no version to compare against", key=key)
        return self._put(key, data, upload, IfMatch=old_version)
