"""Storage backends, chosen by URL.

- a path or ``file:///…``: a local folder (``LocalStore``)
- ``s3://bucket/prefix``: S3 or compatible (endpoint: ``endpoint=`` or ``TLOG_S3_ENDPOINT`` /
  ``AWS_ENDPOINT_URL``; credentials from the usual AWS chain)
- ``gs://bucket/prefix``: Google Cloud Storage (emulator: ``STORAGE_EMULATOR_HOST``)
- ``http(s)://…``: read-only, for clients (keep-alive, retries, disk cache of immutable tiles)
"""

from __future__ import annotations

from typing import Any

from tlog.errors import ConfigError

from .base import CASStore, ObjectStore, Stats, Upload, upload_for

__all__ = ["CASStore", "ObjectStore", "Stats", "Upload", "open_store", "upload_for"]


def open_store(url: str, *, endpoint: str | None = None, cache_dir: str | None = None) -> Any:
    """Open the store a URL names (see the module docstring)."""
    if not isinstance(url, str) or not url:
        raise ConfigError("store URL is empty")
    if url.startswith("s3://"):
        from .s3 import S3Store

        return S3Store(url, endpoint=endpoint)
    if url.startswith("gs://"):
        from .gcs import GCSStore

        return GCSStore(url, endpoint=endpoint)
    if url.startswith(("http://", "https://")):
        from .http import HTTPStore

        return HTTPStore(url, cache_dir=cache_dir)
    from .local import LocalStore

    if url.startswith("file://"):
        url = url.removeprefix("file://")
    elif "://" in url:
        raise ConfigError(f"unsupported store URL scheme: {url.split('://')[0]}://")
    return LocalStore(url)
