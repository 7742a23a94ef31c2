"""A local server that speaks the S3 wire protocol (moto's server mode), for the object-storage
tests: the real boto3 client talks HTTP to it exactly as it would to AWS S3 or MinIO.

`pytest_plugins = ["s3server"]` gives a test module the session-wide `s3_server` fixture.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

# moto's server accepts any credentials; boto3 refuses to sign without some.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint_url: str

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self) -> str:
        name = f"invoices-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_url(self, bucket: str, prefix: str = "docs") -> str:
        return f"s3://{bucket}/{prefix}?endpoint_url={self.endpoint_url}&region=us-east-1"

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch):
    """boto3's credentials for the local server, in this process's environment."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return dict(CREDENTIALS)
