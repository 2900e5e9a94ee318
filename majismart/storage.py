"""Stored files (bill PDFs, exports, photos, logos, kept uploads), each provider's under its own
prefix: the schema name, on whichever backend settings.STORAGES["default"] names.

- Development and the tests: django-tenants' TenantFileSystemStorage, MEDIA_ROOT/<schema>/...
- Production (STORAGE_BACKEND=s3): `TenantS3Storage`, django-storages' S3 backend (boto3) on any
  S3-compatible server (MinIO in docker-compose), keys <schema>/... in one private bucket.

The application names files relative to its provider ("invoices/2026-10/INV-2026-000123.pdf");
the storage adds the prefix from the connection's schema at each call, exactly as the
filesystem storage does, so code in a provider's schema can neither name nor reach another
provider's files. Files always reach users through the permission-checked views, which stream
them from the storage (see README "Files").
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator

from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django_tenants.utils import schema_context
from storages.backends.s3 import S3Storage

from majismart.tenancy import connection

log = logging.getLogger(__name__)


class TenantS3Storage(S3Storage):
    """S3Storage whose location is the current schema (below AWS_LOCATION, if set): recomputed
    at every call, never cached, since one process serves every provider in turn."""

    base_location = ""

    def __init__(self, **settings: object) -> None:
        # The configured AWS_LOCATION becomes the base of every provider's prefix.
        from storages.utils import setting

        self.base_location = str(settings.pop("location", None) or setting("AWS_LOCATION", "")).strip("/")
        super().__init__(**settings)

    @property
    def location(self) -> str:  # a plain attribute in S3Storage, set from AWS_LOCATION: ours is per call
        schema = connection.schema_name
        return posixpath.join(self.base_location, schema) if self.base_location else schema


def tenant_files(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file below `folder` of the current provider's storage, by its name there, whatever
    the backend: a folder's files (sorted), then its sub-folders'. Each folder is listed before
    any of its names is handed out, so a caller may delete them as they come."""
    directories, files = storage.listdir(folder)
    for name in sorted(files):
        yield posixpath.join(folder, name)
    for directory in sorted(directories):
        yield from tenant_files(storage, posixpath.join(folder, directory))


def tenant_files_delete(storage: Storage, folder: str = "") -> int:
    """Delete every file below `folder` of the current provider's storage, whatever the backend
    (a schema dropped for good leaves nothing behind); returns how many went."""
    gone = 0
    for name in tenant_files(storage, folder):
        storage.delete(name)
        gone += 1
    return gone


def files_delete_on_commit(names: Iterable[str], storage: Storage | None = None) -> None:
    """Delete the current provider's files `names` once the transaction commits (a rollback keeps
    rows and files together). The schema is taken now: the commit may come after the code that
    named the files has left the provider's schema (an admin action, closing a provider), and a
    name resolved in another schema would miss the file and leave it behind."""
    names = [n for n in names if n]
    if not names:
        return
    schema = connection.schema_name
    target = storage or default_storage

    def delete() -> None:
        with schema_context(schema):
            for name in names:
                try:
                    target.delete(name)
                except Exception:  # noqa: BLE001 - after the commit: logged, never raised into the request
                    log.exception("could not delete %s in %s", name, schema)

    transaction.on_commit(delete)
