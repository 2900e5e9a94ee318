"""An S3-compatible server for the tests: moto's server mode (`moto[server]`, a pip package, so a
fresh machine has it after `make install`), speaking the S3 HTTP API on a free local port. The
application reaches it through boto3 over real HTTP, exactly as it reaches MinIO in production;
nothing in the application is patched."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devkit.testing import free_port, wait_for_port

REGION = "us-east-1"
ACCESS_KEY = "majismart-test"
SECRET_KEY = "majismart-test-secret"  # noqa: S105 - the local stand-in's, accepted whatever it is


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> Any:
        """A boto3 S3 client of the server (for the tests' own looks into a bucket)."""
        import boto3  # type: ignore[import-untyped]  # no stubs installed (the tests only list a bucket)

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in `bucket` (under `prefix`), listed by the server."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def storage_options(self, bucket: str) -> dict[str, object]:
        """STORAGES["default"]["OPTIONS"] for majismart.storage.TenantS3Storage on `bucket`,
        as production configures it (private, signed short-lived URLs, no overwriting)."""
        return {"bucket_name": bucket, "endpoint_url": self.endpoint_url, "region_name": REGION,
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "addressing_style": "path",
                "signature_version": "s3v4", "default_acl": "private", "file_overwrite": False,
                "querystring_auth": True, "querystring_expire": 300}


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server on 127.0.0.1 for the duration of the block."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in the tests' output
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
