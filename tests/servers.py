"""Servers of our own for the storage and rehearsal tests, each a real process on a free port:
moto's standalone S3 server (spoken to over HTTP, as a real store is) and Redis."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import RedisServer
from tests.live import BIN, free_port, stop, wait_for_port

BUCKET = "darkroom-test"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    url: str
    proc: subprocess.Popen[Any]
    log: Path

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", **_keys())

    def stop(self) -> None:
        """The store goes away (moto keeps nothing: a restart comes back empty)."""
        stop(self.proc)

    def start_again(self) -> None:
        """Back on the same address, with its bucket."""
        port = int(self.url.rsplit(":", 1)[1])
        self.proc = _start_moto(port, self.log)
        self.client().create_bucket(Bucket=BUCKET)

    def keys(self) -> set[str]:
        listed = self.client().list_objects_v2(Bucket=BUCKET)
        return {o["Key"] for o in listed.get("Contents", [])}

    def storage_settings(self, public_url: str = "") -> dict[str, Any]:
        return {
            "BACKEND": "common.storage.PublicEndpointS3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": self.url,
                "public_endpoint_url": public_url,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
            },
        }


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """moto_server in its own process, with an empty private bucket."""
    port = free_port()
    log = tmp_path / "moto.log"
    server = S3Server(f"http://127.0.0.1:{port}", _start_moto(port, log), log)
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        if server.proc.poll() is None:
            stop(server.proc)


def _start_moto(port: int, log: Path) -> subprocess.Popen[Any]:
    moto = BIN / "moto_server"
    if not moto.exists():
        pytest.skip("moto_server missing: install the dev extra (moto[s3,server])")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own (never the shared one), on a free port, no persistence."""
    redis = RedisServer(tmp_path / "redis.log")
    try:
        yield redis
    finally:
        redis.stop()
