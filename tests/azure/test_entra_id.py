"""The azure backend signed in with Microsoft Entra ID: no storage key, user delegation SAS.

Storage is Azurite in OAuth mode over HTTPS (`--oauth basic --cert --key`, a self-signed
certificate for 127.0.0.1), reached through AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_SERVICE_ENDPOINT;
Batch is the project's emulator with its shared key. The CLI runs in-process so that the one
stand-in below applies.

The one stand-in: no local server can issue a real Microsoft Entra token, so
`credentials.default_credential` (DefaultAzureCredential) is replaced by a TokenCredential
returning a token minted here. Azurite in basic OAuth mode checks its issuer
(https://sts.windows.net/...), audience (https://storage.azure.com) and time claims, not its
signature; everything after the token (bearer requests, get_user_delegation_key, SAS signed
with that key and checked by Azurite on download/upload) is real.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import yaml
from click.testing import CliRunner
from clihelp import REPO
from relhelpers import leaked_output
from rigs import worker_images
from services import AZURITE_ACCOUNT, start_azurite

from batch_emulator import DEV_ACCOUNT, DEV_KEY
from batch_emulator.server import BatchEmulator
from superbatch.backends.azure import credentials
from superbatch.cli import cli

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OBJECT_ID = "0b6d8f0e-5a6c-4c3e-9d42-3f1e1c2a7b90"
STORAGE_SCOPE = "https://storage.azure.com/.default"
DEMO_RESULT = 9.532962532158818
UDK_PARAMS = ("skoid", "sktid", "skt", "ske", "sks", "skv")


def entra_token(lifetime: int = 3600) -> str:
    """A token shaped like Entra ID's for Storage (unsigned in substance: HS256, a test key)."""
    now = int(time.time())
    claims = {
        "iss": f"https://sts.windows.net/{TENANT}/",
        "aud": "https://storage.azure.com",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": OBJECT_ID,
        "tid": TENANT,
        "sub": OBJECT_ID,
    }
    return jwt.encode(claims, "superbatch-test-key-not-a-secret!", algorithm="HS256")


class FakeEntraCredential:
    """Stands in for DefaultAzureCredential (see the module docstring): a TokenCredential."""

    def __init__(self):
        self.scopes: list[tuple] = []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(entra_token(), int(time.time()) + 3600)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Path:
    """A self-signed certificate (and key) for 127.0.0.1; returns the directory."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def oauth_azurite(tls):
    server = start_azurite(
        "--oauth", "basic", "--cert", str(tls / "cert.pem"), "--key", str(tls / "key.pem")
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def udk_sas_refusal(oauth_azurite, tls) -> str | None:
    """Why this Azurite refuses azure-storage-blob's user delegation SAS, or None if it accepts.

    azure-storage-blob 12.31 signs SAS as service version 2026-10-06, whose user delegation
    string-to-sign has the signedRequestHeaders/QueryParameters lines (srh, srq) of 2026-04-06;
    Azurite validates those from 3.37.0 on, and 3.35.0 computes a different signature.
    """
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import (
        BlobClient,
        BlobSasPermissions,
        BlobServiceClient,
        generate_blob_sas,
    )

    verify = str(tls / "cert.pem")
    service = BlobServiceClient(
        oauth_azurite.blob_endpoint, credential=FakeEntraCredential(), connection_verify=verify
    )
    container = service.get_container_client("udk-probe")
    container.create_container()
    container.upload_blob("probe.txt", b"probe")
    now = datetime.now(timezone.utc)
    key = service.get_user_delegation_key(now - timedelta(minutes=5), now + timedelta(hours=1))
    sas = generate_blob_sas(
        AZURITE_ACCOUNT,
        "udk-probe",
        "probe.txt",
        user_delegation_key=key,
        permission=BlobSasPermissions(read=True),
        expiry=now + timedelta(hours=1),
    )
    try:
        BlobClient.from_blob_url(
            f"{container.url}/probe.txt?{sas}", connection_verify=verify
        ).download_blob().readall()
    except HttpResponseError as exc:
        version = subprocess.run(
            [oauth_azurite.process.args[0], "--version"], capture_output=True, text=True
        ).stdout.strip()
        code = getattr(exc.error_code, "value", exc.error_code) or exc.status_code
        return (
            f"Azurite {version} refuses azure-storage-blob's user delegation SAS ({code}): "
            f"it does not know the 2026-04-06 string-to-sign (srh/srq lines); Azurite "
            f"3.37.0 does. Bump package.json's azurite to 3.37.0 and run `npm install`."
        )
    return None


@pytest.fixture
def entra_rig(oauth_azurite, tls, tmp_path, monkeypatch):
    """The demo job with Storage via Entra ID (Azurite, HTTPS) and Batch via the emulator."""
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    (tmp_path / "jobs").mkdir()
    spec = tmp_path / "jobs" / "sum-of-powers.yaml"
    container = f"entra{abs(hash(str(tmp_path))) % 10**8}"
    spec.write_text(
        (REPO / "jobs" / "sum-of-powers.yaml")
        .read_text()
        .replace("container: superbatch", f"container: {container}")
        .replace("  storage:", "  inline_inputs: false\n  cleanup: {job: false}\n  storage:")
        # The task runner uploads the output over HTTPS: the node trusts Azurite's
        # self-signed certificate as a real node trusts Azure Storage's.
        .replace(
            "  format: joblib", f"  format: joblib\n  env: {{SSL_CERT_FILE: {tls / 'cert.pem'}}}"
        )
    )
    emulator = BatchEmulator(
        DEV_ACCOUNT, DEV_KEY, images=worker_images(tmp_path / "worker"), root=tmp_path / "nodes"
    ).start()
    for name in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCESS_KEY",
        "SUPERBATCH_STATE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
        "AZURE_STORAGE_ACCOUNT": AZURITE_ACCOUNT,
        "AZURE_STORAGE_SERVICE_ENDPOINT": oauth_azurite.blob_endpoint,
        # Trust the self-signed certificate: azure-core's requests transport honours
        # REQUESTS_CA_BUNDLE, in superbatch and in the emulator's node (which downloads
        # resource files and uploads output files from/to Azurite over HTTPS).
        "REQUESTS_CA_BUNDLE": str(tls / "cert.pem"),
        "SUPERBATCH_POLL_SECONDS": "0.2",
        "SUPERBATCH_RETRY_BACKOFF": "0.05",
        # Pre-flight asks the emulator for the image, and no price or management plane.
        "SUPERBATCH_REGISTRY_MIRROR": emulator.endpoint,
        "SUPERBATCH_PRICES_URL": "http://127.0.0.1:9/api/retail/prices",
        "AZURE_SUBSCRIPTION_ID": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    credential = FakeEntraCredential()
    monkeypatch.setattr(credentials, "default_credential", lambda: credential)
    rig = type("EntraRig", (), {})()
    rig.spec, rig.container, rig.emulator, rig.credential = spec, container, emulator, credential
    rig.tls, rig.azurite = tls, oauth_azurite
    try:
        yield rig
    finally:
        emulator.stop()


def superbatch(*args):
    """The CLI in-process (so the stand-in credential applies): (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def job_id_of(rig) -> str:
    return next(p.parent.name for p in (rig.spec.parent / ".superbatch").glob("*/record.json"))


def check_user_delegation_sas(rig) -> None:
    """Task 2's resource files and output container URL carry user delegation SAS."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    job_id = job_id_of(rig)
    client = BatchClient(rig.emulator.endpoint, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    task = client.get_task(job_id, "task-00002")
    files = {r.file_path: r.http_url for r in task.resource_files}
    assert set(files) == {"config.pickle", "inputs.pickle", "taskrunner.pyz"}
    urls = list(files.values())
    # the output's name is drawn on the node: the definition names only a directory
    container_url, _ = leaked_output(task)
    for url in urls + [container_url]:
        parsed = urlparse(url)
        assert f"{parsed.scheme}://{parsed.netloc}" == rig.azurite.blob_endpoint.rsplit("/", 1)[0]
        query = parse_qs(parsed.query)
        for param in UDK_PARAMS:  # signed with a user delegation key, not an account key
            assert param in query, (param, parsed.path)
        assert query["skoid"] == [OBJECT_ID] and query["sktid"] == [TENANT]
        assert query["sks"] == ["b"]
        assert "sig" in query
    for url in urls:
        query = parse_qs(urlparse(url).query)
        assert query["sp"] == ["r"] and query["sr"] == ["b"]
    assert urlparse(files["inputs.pickle"]).path.endswith(
        f"/{rig.container}/{job_id}/inputs/task-00002"
    )
    query = parse_qs(urlparse(container_url).query)
    # No stored access policy with Entra ID: an ad-hoc create + write SAS on the job's own
    # container, which expires (docs/reliability.md, threat model).
    assert sorted(query["sp"][0]) == sorted("cw") and query["sr"] == ["c"]
    assert urlparse(container_url).path.split("/")[-1].startswith(rig.container + "-")
    # Every Storage call went out with the Entra token, for Storage's scope.
    assert rig.credential.scopes and all(s == (STORAGE_SCOPE,) for s in rig.credential.scopes)


def test_submit_with_entra_id_signs_sas_with_a_user_delegation_key(entra_rig):
    rig = entra_rig
    code, out, err = superbatch("submit", rig.spec, "--backend", "azure")
    assert code == 0, err
    check_user_delegation_sas(rig)
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(
        rig.azurite.blob_endpoint,
        credential=FakeEntraCredential(),
        connection_verify=str(rig.tls / "cert.pem"),
    )
    job_id = job_id_of(rig)
    names = {
        b.name
        for b in service.get_container_client(rig.container).list_blobs(
            name_starts_with=job_id + "/"
        )
    }
    assert {f"{job_id}/config.pickle"} | {
        f"{job_id}/inputs/task-{i:05d}" for i in range(4)
    } <= names


def test_run_with_entra_id_end_to_end(entra_rig, udk_sas_refusal):
    if udk_sas_refusal:
        pytest.skip(udk_sas_refusal)
    rig = entra_rig
    code, out, err = superbatch("run", rig.spec, "--backend", "azure", "--json")
    assert code == 0, err
    assert json.loads(out)["result"] == DEMO_RESULT
    check_user_delegation_sas(rig)
    saved = yaml.safe_load(rig.spec.read_text())["collect"]["output"]
    assert json.loads((rig.spec.parent / saved).read_text())  # collected to the spec's output


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ("not a url", "AZURE_STORAGE_SERVICE_ENDPOINT is not a URL"),
        ("http://127.0.0.1:1/devstoreaccount1", "AZURE_STORAGE_SERVICE_ENDPOINT is an http:// URL"),
    ],
)
def test_bad_service_endpoint_is_exit_2_naming_the_variable(
    entra_rig, monkeypatch, endpoint, message
):
    monkeypatch.setenv("AZURE_STORAGE_SERVICE_ENDPOINT", endpoint)
    code, out, err = superbatch("submit", entra_rig.spec, "--backend", "azure")
    assert code == 2 and message in err, err
    assert not (entra_rig.spec.parent / ".superbatch").exists()


def test_service_endpoint_applies_to_the_account_variables_only(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_SERVICE_ENDPOINT", "https://blob.example.test/acct/")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_KEY", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCESS_KEY", raising=False)
    entra = credentials.storage_credentials()
    assert entra.uses_entra_id and entra.url == "https://blob.example.test/acct"
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "AccountName=other;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/other",
    )
    assert credentials.storage_credentials().url is None  # the connection string decides
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    monkeypatch.setenv("AZURE_STORAGE_SERVICE_ENDPOINT", "http://127.0.0.1:1/acct")
    keyed = credentials.storage_credentials()  # a key may use http (e.g. plain Azurite)
    assert not keyed.uses_entra_id and keyed.url == "http://127.0.0.1:1/acct"
