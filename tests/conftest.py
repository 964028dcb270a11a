"""Shared fixtures: real servers on loopback (see tests/servers.py)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import S3_CREDENTIALS, StaticServer, gcs_emulator, moto_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_env(s3_endpoint: str) -> dict[str, str]:
    env = {**S3_CREDENTIALS, "TLOG_S3_ENDPOINT": s3_endpoint}
    os.environ.update(env)
    return env


@pytest.fixture
def s3_bucket(s3_env: dict[str, str]) -> str:
    import boto3

    name = f"tlog-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env["TLOG_S3_ENDPOINT"]).create_bucket(Bucket=name)
    return name


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[StaticServer]:
    root = tmp_path / "served"
    root.mkdir()
    with StaticServer(root) as server:
        yield server


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    with gcs_emulator() as url:
        os.environ["STORAGE_EMULATOR_HOST"] = url
        yield url


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"tlog-{uuid.uuid4().hex[:12]}"
    client = storage.Client(project="tiledlog", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_endpoint})
    client.create_bucket(name)
    return name
