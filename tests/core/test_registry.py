"""bootstrap.registry against Debian's registry (distribution 2.8 on 127.0.0.1), judged by
skopeo: pushes read back byte for byte, blobs present or mounted on a second push, Basic
(htpasswd) and Bearer (a token server here, RS256 JWTs with an x5c chain) authentication, a
chunked upload resumed after lost and failed chunks, attachments and their referrers tag.
The pure parts (references, auth files, challenges) are in test_registry_parts.py."""
from __future__ import annotations

import base64
import json
import os
import random
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin

import pytest
import requests
from requests.adapters import HTTPAdapter

from bootstrap.errors import RegistryError
from bootstrap.pack.oci import ImageConfig, write_oci
from bootstrap.registry import (
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Credentials,
    RegistryClient,
    parse_reference,
    push_layout,
    referrers_tag,
    sha256_digest,
)
from tests.registryserver import Registry, TokenServer

EPOCH = 1700000000
FILES = {"etc/hostname": b"tiny\n", "usr/share/doc/tiny/README": b"a tiny image\n" * 40}


def skopeo(*args: str, env: Mapping[str, str] | None = None) -> str:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True, timeout=120,
                          env=dict(env) if env is not None else None).stdout


def make_layout(tmp: Path, name: str = "img", files: Mapping[str, bytes] = FILES, tag: str = "1") -> Path:
    """An OCI layout of a tiny tree, written by the project's own writer (config + one layer)."""
    root = tmp / f"{name}-root"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return write_oci(root, tmp / name, ImageConfig(arch="amd64", ref=tag),
                     source_date_epoch=EPOCH)


def top_entry(layout: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((layout / "index.json").read_text())["manifests"][0]
    return entry


def blob_bytes(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def client_for(registry: Registry, lines: list[str] | None = None, **options: Any) -> RegistryClient:
    log = lines.append if lines is not None else (lambda line: None)
    return RegistryClient(registry.host, insecure=True, backoff=0, log=log, **options)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as reg:
        yield reg


def test_a_pushed_layout_reads_back_the_same_bytes_and_digest(registry: Registry, tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    lines: list[str] = []
    result = push_layout(layout, parse_reference(f"{registry.host}/base/debian:1"), client_for(registry, lines),
                         log=lines.append)
    entry = top_entry(layout)
    assert (result.digest, result.media_type) == (entry["digest"], OCI_MANIFEST)
    assert (result.uploaded, result.present, result.mounted) == (2, 0, 0)  # config and layer
    remote = f"docker://{registry.host}/base/debian"
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"{remote}:1")
    assert raw.encode() == blob_bytes(layout, entry["digest"])
    assert skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"{remote}:1").strip() == result.digest
    skopeo("copy", "--src-tls-verify=false", f"{remote}@{result.digest}", f"oci:{tmp_path / 'back'}:x")
    assert top_entry(tmp_path / "back")["digest"] == result.digest
    assert any("plain HTTP" in line for line in lines)  # insecure: HTTPS tried first, then HTTP


def test_a_second_push_uploads_nothing_and_another_repository_mounts(registry: Registry, tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    client = client_for(registry)
    first = push_layout(layout, parse_reference(f"{registry.host}/base/debian:1"), client)
    again = push_layout(layout, parse_reference(f"{registry.host}/base/debian:1"), client)
    assert (again.digest, again.uploaded, again.present, again.mounted) == (first.digest, 0, 2, 0)
    other = push_layout(layout, parse_reference(f"{registry.host}/base/other:2"), client_for(registry),
                        mount_from="base/debian")
    assert (other.digest, other.uploaded, other.present, other.mounted) == (first.digest, 0, 0, 2)
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/base/other:2")
    assert raw.encode() == blob_bytes(layout, first.digest)
    # A mount from a repository that lacks the blob opens an upload instead: cancelled, False.
    assert client.mount_blob("base/third", first.digest, "base/nothing-here") is False


def _auth_file(path: Path, host: str, user: str, password: str) -> Path:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def test_basic_auth_from_the_registry_auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = make_layout(tmp_path)
    with Registry(tmp_path / "registry", htpasswd=("alice", "s3cret")) as registry:
        ref = parse_reference(f"{registry.host}/base/debian:1")
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(_auth_file(tmp_path / "auth.json", registry.host, "alice",
                                                                "s3cret")))
        result = push_layout(layout, ref, client_for(registry))
        clean = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
        raw = skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", "--raw",
                     f"docker://{registry.host}/base/debian:1", env=clean)
        assert raw.encode() == blob_bytes(layout, result.digest)
        _auth_file(tmp_path / "auth.json", registry.host, "alice", "wrong")
        with pytest.raises(RegistryError) as refused:
            push_layout(layout, ref, client_for(registry))
        message = refused.value.message
        assert registry.host in message and "401" in message and "credentials" in message, message
        assert "\n" not in message and refused.value.hint and "login" in refused.value.hint
        (tmp_path / "auth.json").write_text("{}")
        with pytest.raises(RegistryError, match=r"needs credentials for base/debian \(401\)"):
            client_for(registry).get_manifest("base/debian", "1")


def test_bearer_tokens_through_the_challenge(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    with TokenServer(tmp_path / "tokens", {"alice": "s3cret"}, {"REFRESH-1": "alice"}) as tokens, \
            Registry(tmp_path / "registry", token=tokens.auth) as registry:
        alice = Credentials("alice", "s3cret", source="the test")
        result = push_layout(layout, parse_reference(f"{registry.host}/base/debian:1"),
                             client_for(registry, credentials=alice))
        assert result.uploaded == 2
        assert ("basic", ("repository:base/debian:pull,push",)) in tokens.asked
        mounted = push_layout(layout, parse_reference(f"{registry.host}/base/other:1"),
                              client_for(registry, credentials=alice), mount_from="base/debian")
        assert mounted.mounted == 2  # the mount's token names both repositories
        assert ("basic", ("repository:base/debian:pull", "repository:base/other:pull,push")) in tokens.asked
        by_refresh = client_for(registry, credentials=Credentials(identity_token="REFRESH-1"))
        assert by_refresh.get_manifest("base/debian", "1").digest == result.digest
        assert tokens.asked[-1] == ("refresh_token", ("repository:base/debian:pull",))
        raw = skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", "--raw",
                     f"docker://{registry.host}/base/debian:1")
        assert raw.encode() == blob_bytes(layout, result.digest)
        with pytest.raises(RegistryError, match="refused the credentials"):
            client_for(registry, credentials=Credentials("alice", "wrong")).get_manifest("base/debian", "1")


class FlakyAdapter(HTTPAdapter):
    """Fails the first PATCH that starts at each offset of `plan`: `before` (no request sent:
    the connection broke), `500` (the registry is said to have failed), `lost` (the registry
    got the chunk, the answer never came back); with `always`, every PATCH fails so."""

    def __init__(self, plan: Mapping[int, str], always: str = "") -> None:
        super().__init__()
        self.plan, self.always = dict(plan), always
        self.patches: list[int] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.method == "PATCH":
            start = int(str(request.headers["Content-Range"]).split("-")[0])
            self.patches.append(start)
            how = self.always or self.plan.pop(start, "")
            if how == "before":
                raise requests.ConnectionError("connection reset by the test")
            if how == "500":
                failed = requests.Response()
                failed.status_code, failed._content, failed.request = 500, b"", request
                failed.url = str(request.url)
                return failed
            if how == "lost":
                super().send(request, *args, **kwargs).close()
                raise requests.ConnectionError("the answer was lost in the test")
        return super().send(request, *args, **kwargs)


def test_a_chunked_upload_resumes_from_the_registry_range(registry: Registry, tmp_path: Path) -> None:
    noise = random.Random(5).randbytes(300 << 10)  # incompressible: the layer stays ~300 KiB
    layout = make_layout(tmp_path, files={"data/noise.bin": noise})
    chunk = 64 << 10
    flaky = FlakyAdapter({chunk: "before", 2 * chunk: "500", 3 * chunk: "lost"})
    session = requests.Session()
    session.mount("http://", flaky)
    session.mount("https://", flaky)
    lines: list[str] = []
    result = push_layout(layout, parse_reference(f"{registry.host}/base/big:1"),
                         client_for(registry, lines, session=session, chunk_size=chunk))
    assert result.uploaded == 2 and not flaky.plan
    assert any(f"resuming at byte {chunk} " in line for line in lines), lines
    assert any(f"resuming at byte {2 * chunk} " in line for line in lines), lines
    # distribution 2.8 drops an upload whose state a lost answer made stale: a new one
    assert any("dropped the upload" in line for line in lines), lines
    assert flaky.patches.count(0) == 3  # the config's one chunk, the layer's first and its restart
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/base/big@{result.digest}",
           f"oci:{tmp_path / 'back'}:x")  # skopeo checks every blob's digest as it copies
    layer = json.loads(blob_bytes(tmp_path / "back", result.digest))["layers"][0]
    assert layer["size"] > 4 * chunk
    assert sha256_digest(blob_bytes(tmp_path / "back", layer["digest"])) == layer["digest"]


def test_an_upload_that_keeps_failing_names_the_blob(registry: Registry, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, files={"data/noise.bin": random.Random(6).randbytes(100 << 10)})
    flaky = FlakyAdapter({}, always="before")
    session = requests.Session()
    session.mount("http://", flaky)
    client = client_for(registry, session=session, chunk_size=32 << 10, retries=2)
    with pytest.raises(RegistryError) as failed:
        push_layout(layout, parse_reference(f"{registry.host}/base/broken:1"), client)
    config = json.loads(blob_bytes(layout, top_entry(layout)["digest"]))["config"]["digest"]
    assert f"upload of blob {config} to base/broken failed after 3 tries" in failed.value.message
    assert registry.host in failed.value.message and "\n" not in failed.value.message


class SinglePostRegistry(HTTPAdapter):
    """Makes distribution 2.8 look like a registry that takes a small blob in one POST: a
    `POST ?digest=` with a body is carried out as POST + PUT on the real registry, whose 201
    is the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.methods.append(str(request.method))
        url = str(request.url)
        if request.method == "POST" and "digest=" in url and request.body:
            base, _, query = url.partition("?")
            auth = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
            opened = super().send(requests.Request("POST", base, headers=auth).prepare(), *args, **kwargs)
            opened.close()
            put = requests.Request("PUT", urljoin(base, opened.headers["Location"]), params=parse_qs(query),
                                   data=request.body, headers=auth).prepare()
            return super().send(put, *args, **kwargs)
        return super().send(request, *args, **kwargs)


def test_a_registry_that_takes_a_blob_in_one_post(registry: Registry, tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    adapter = SinglePostRegistry()
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    client = client_for(registry, session=session)
    result = push_layout(layout, parse_reference(f"{registry.host}/base/single:1"), client)
    assert result.uploaded == 2 and client.single_post and "PATCH" not in adapter.methods
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/base/single@{result.digest}",
           f"oci:{tmp_path / 'back'}:x")


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = sha256_digest(data)
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def attach(layout: Path, subject: Mapping[str, Any], artifact_type: str, payload: bytes, title: str) -> str:
    """Add an artifact manifest attached to `subject` to the layout's index.json."""
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": {"mediaType": OCI_EMPTY, **_write_blob(layout, b"{}")},
                "layers": [{"mediaType": artifact_type, **_write_blob(layout, payload),
                            "annotations": {"org.opencontainers.image.title": title}}],
                "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
                "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
    described = _write_blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"mediaType": OCI_MANIFEST, "artifactType": artifact_type, **described})
    (layout / "index.json").write_text(json.dumps(index))
    return str(described["digest"])


def test_attachments_are_pushed_and_listed_under_the_referrers_tag(registry: Registry, tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    image = top_entry(layout)
    lock = attach(layout, image, "application/vnd.example.lock.v1+json", b'{"packages": ["tiny"]}\n', "tiny.lock")
    client = client_for(registry)
    ref = parse_reference(f"{registry.host}/base/debian:1")
    first = push_layout(layout, ref, client)
    assert first.digest == image["digest"] and first.attachments == (lock,)
    assert first.uploaded == 4  # config, layer, the empty config, the lock
    tag = referrers_tag(image["digest"])
    assert tag == "sha256-" + image["digest"].removeprefix("sha256:")
    listed = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/base/debian:{tag}"))
    assert listed["mediaType"] == OCI_INDEX
    assert [(m["digest"], m["artifactType"]) for m in listed["manifests"]] == \
        [(lock, "application/vnd.example.lock.v1+json")]
    assert client.get_manifest("base/debian", lock).body == blob_bytes(layout, lock)
    sbom = attach(layout, image, "application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}\n', "tiny.spdx.json")
    again = push_layout(layout, ref, client)
    assert again.attachments == (lock, sbom) and again.uploaded == 1  # only the SBOM's own blob
    both = json.loads(client.get_manifest("base/debian", tag).body)
    assert [m["digest"] for m in both["manifests"]] == sorted([lock, sbom])
    assert {m["artifactType"] for m in both["manifests"]} == {"application/vnd.example.lock.v1+json",
                                                               "application/spdx+json"}


def test_error_answers_are_one_line_with_the_registry_own_words(registry: Registry, tmp_path: Path) -> None:
    client = client_for(registry)
    with pytest.raises(RegistryError, match=rf"registry {registry.host} has no manifest nope in base/debian"):
        client.get_manifest("base/debian", "nope")
    missing = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": sha256_digest(b"absent"), "size": 6}, "layers": []}
    with pytest.raises(RegistryError) as invalid:
        client.put_manifest("base/debian", "1", json.dumps(missing).encode(), OCI_MANIFEST)
    message = invalid.value.message
    assert message.startswith(f"registry {registry.host}: put of manifest 1 in base/debian failed (400 "), message
    assert "MANIFEST_BLOB_UNKNOWN" in message and "\n" not in message
    strict = RegistryClient(registry.host)  # TLS verified: a plain-HTTP registry cannot be spoken to
    with pytest.raises(RegistryError, match=rf"cannot reach {registry.host} over HTTPS") as plain:
        strict.blob_exists("base/debian", sha256_digest(b"x"))
    assert plain.value.hint and "--insecure-registry" in plain.value.hint
    registry.__exit__()
    lines: list[str] = []
    with pytest.raises(RegistryError, match=rf"cannot reach {registry.host} \(connection refused\)"):
        client_for(registry, lines).blob_exists("base/debian", sha256_digest(b"x"))
    assert not any("trying again" in line for line in lines)  # a first contact that fails is not retried
