"""Downloading many blobs: each one's bytes in the order asked, None for an absent one, a
stored MD5 checked, and no SAS in any error."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import ContentSettings

from superbatch.backends.azure.credentials import StorageCredentials
from superbatch.backends.azure.storage import Storage
from superbatch.errors import InfraError


@pytest.fixture
def store(azurite, tmp_path):
    storage = Storage(StorageCredentials(connection_string=azurite.connection_string))
    blobs = storage.container(f"fetch{abs(hash(str(tmp_path))) % 10**8}")
    blobs.ensure()
    return blobs


def test_every_blob_in_order_and_none_for_an_absent_one(store):
    names = [f"out/task-{i:05d}" for i in range(40)] + ["out/with space/é"]
    for i, name in enumerate(names):
        store.upload(name, bytes([i % 256]) * (i * 1000))
    got, written = [], []
    before = datetime.now(timezone.utc) - timedelta(seconds=5)

    def done(name, fetched):
        got.append((name, fetched and fetched.data))
        if fetched:
            written.append(fetched.written)

    store.download_many(names[:20] + ["out/absent"] + names[20:], done)
    # each answer says when its bytes were written (what collect checks them against)
    assert all(before <= w <= datetime.now(timezone.utc) for w in written), written
    assert got == [(n, bytes([i % 256]) * (i * 1000)) for i, n in enumerate(names[:20])] + [
        ("out/absent", None)
    ] + [(n, bytes([i % 256]) * (i * 1000)) for i, n in enumerate(names) if i >= 20]


def test_a_blob_whose_bytes_do_not_match_its_md5_is_an_error(store):
    blob = store.client.upload_blob("out/bad", b"the bytes")
    blob.set_http_headers(ContentSettings(content_md5=hashlib.md5(b"other").digest()))
    with pytest.raises(InfraError, match="MD5") as caught:
        store.download_many(["out/bad"], lambda n, d: None)
    assert "sig=" not in str(caught.value)
