"""Images all the way, judged by real tools, on a Debian-shaped test archive (dpkg-deb,
apt-ftparchive, gpg) served on 127.0.0.1 for amd64 and arm64, and Debian's registry on
127.0.0.1: skopeo (inspect; copy between oci:, docker-archive: and docker://), umoci unpack,
podman load and import, a push and a pull back by digest, a second push that uploads no blob,
`refresh --from` exiting 0 and then 10, the README's nightly loop, and an image index of two
architectures."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lockflow import cli, ok
from tests.registryserver import Registry
from tests.tinyarchive import SHAPE, Archive, tiny_archive

REPO = Path(__file__).resolve().parents[2]
EPOCH = "1700000000"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with tiny_archive(tmp_path / "archive") as served:
        yield served


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as reg:
        yield reg


def build(archive: Archive, tmp: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    return ok(cli("build", "debian-bookworm", *archive.args, *SHAPE, "--cache-dir", str(tmp / "cache"), *args,
                  env=env), code)


def skopeo(*args: str) -> str:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True, timeout=300).stdout


def _tree(tar: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """path → (type, mode, uid, gid, content digest or link target) of a tar."""
    import hashlib

    found = {}
    with tarfile.open(tar) as archive:
        for m in archive.getmembers():
            name = m.name.removeprefix("./").rstrip("/") or "."
            body = ""
            if m.isfile():
                body = hashlib.sha256(archive.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            elif m.issym() or m.islnk():
                body = m.linkname.removeprefix("./")
            found[name] = ("l" if m.islnk() else m.type.decode(), m.mode, m.uid, m.gid, body)
    return found


def _disk(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """The same view of an unpacked tree (hard links seen as files)."""
    import hashlib
    import stat

    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        name = str(path.relative_to(root)) if path != root else "."
        kind = {stat.S_IFREG: "0", stat.S_IFDIR: "5", stat.S_IFLNK: "2"}.get(stat.S_IFMT(st.st_mode), "?")
        body = hashlib.sha256(path.read_bytes()).hexdigest() if kind == "0" else \
            os.readlink(path) if kind == "2" else ""
        found[name] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
    return found


def test_oci_config_annotations_layers_and_umoci_tree(archive: Archive, tmp_path: Path) -> None:
    layout, tarball = tmp_path / "img", tmp_path / "root.tar.gz"
    build(archive, tmp_path, "-o", str(tarball))
    done = build(archive, tmp_path, "--format", "oci", "-o", str(layout), "--tag", "base:1", "--cmd", "/usr/bin/hello",
                 "--entrypoint", '["/bin/sh", "-c"]', "--env", "FOO=bar", "--label", "team=base", "--workdir", "/tmp",
                 "--user", "0:0", "--layers", "3", "--source", "https://example.invalid/base", "--revision", "abc")
    assert (tmp_path / "img.spdx.json").is_file(), done.stderr
    config = json.loads(skopeo("inspect", "--config", "oci:" + str(layout) + ":1"))
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    c = config["config"]
    assert c["Cmd"] == ["/usr/bin/hello"] and c["Entrypoint"] == ["/bin/sh", "-c"]
    assert "FOO=bar" in c["Env"] and any(e.startswith("PATH=") for e in c["Env"])
    assert (c["WorkingDir"], c["User"], c["Labels"]) == ("/tmp", "0:0", {"team": "base"})
    manifest = json.loads(skopeo("inspect", "--raw", "oci:" + str(layout) + ":1"))
    notes = manifest["annotations"]
    assert notes["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert notes["org.opencontainers.image.base.name"] == "debian-bookworm"
    assert notes["org.opencontainers.image.version"] == "bookworm"
    assert notes["org.opencontainers.image.source"] == "https://example.invalid/base"
    assert notes["org.opencontainers.image.revision"] == "abc"
    assert notes["org.rootfs-bootstrap.packages"] == "3"
    assert len(manifest["layers"]) == 3
    lock = layout / "blobs" / "sha256" / notes["org.rootfs-bootstrap.lock.digest"].removeprefix("sha256:")
    assert {p["name"] for p in json.loads(lock.read_text())["packages"]} == {"tiny-base", "hello", "libhello"}
    assert (layout / "blobs" / "sha256" / notes["org.rootfs-bootstrap.sbom.digest"].removeprefix("sha256:")).is_file()
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    assert _disk(tmp_path / "bundle" / "rootfs") == _disk_of_tar(tarball, tmp_path / "x")


def _disk_of_tar(tarball: Path, into: Path) -> dict[str, tuple[str, int, int, int, str]]:
    into.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-xpzf", str(tarball), "-C", str(into)], check=True)
    return _disk(into)


def test_docker_archive_loads_and_the_tarball_imports(archive: Archive, tmp_path: Path) -> None:
    image, tarball = tmp_path / "img.tar", tmp_path / "root.tar.gz"
    build(archive, tmp_path, "--format", "docker", "-o", str(image), "--tag", "base:1")
    build(archive, tmp_path, "-o", str(tarball))
    short = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))  # podman refuses a runroot of over 50 characters
    podman = ["podman", "--root", str(short / "storage"), "--runroot", str(short / "run"), "--storage-driver", "vfs"]
    try:
        _load_and_import(podman, image, tarball)
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert json.loads(skopeo("inspect", f"docker-archive:{image}"))["Architecture"] == "amd64"


def _load_and_import(podman: list[str], image: Path, tarball: Path) -> None:
    loaded = subprocess.run([*podman, "load", "-i", str(image)], check=True, capture_output=True, text=True)
    assert "base:1" in loaded.stdout + loaded.stderr
    seen = json.loads(subprocess.run([*podman, "image", "inspect", "base:1"], check=True, capture_output=True,
                                     text=True).stdout)[0]
    assert seen["Architecture"] == "amd64" and seen["Config"]["Cmd"] == ["/bin/bash"]  # the profile's command
    subprocess.run([*podman, "import", str(tarball), "imported:1"], check=True, capture_output=True)
    listed = subprocess.run([*podman, "image", "inspect", "imported:1"], check=True, capture_output=True, text=True)
    assert json.loads(listed.stdout)[0]["RootFS"]["Layers"]


def test_skopeo_copies_oci_to_docker_archive_to_registry_and_back(archive: Archive, registry: Registry,
                                                                 tmp_path: Path) -> None:
    layout = tmp_path / "img"
    build(archive, tmp_path, "--format", "oci", "-o", str(layout), "--tag", "1")
    diff_ids = json.loads(skopeo("inspect", "--config", f"oci:{layout}:1"))["rootfs"]["diff_ids"]
    skopeo("copy", f"oci:{layout}:1", f"docker-archive:{tmp_path / 'd.tar'}:base:1")
    ref = f"{registry.host}/base/copied:1"
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{tmp_path / 'd.tar'}", f"docker://{ref}")
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'back'}:1")
    assert json.loads(skopeo("inspect", "--config", f"oci:{tmp_path / 'back'}:1"))["rootfs"]["diff_ids"] == diff_ids


def _pushed(done: subprocess.CompletedProcess[str]) -> tuple[str, int]:
    """(the manifest digest, blobs uploaded) a push reported."""
    found = re.search(r"pushed \S+@(sha256:[0-9a-f]{64}): (\d+) blobs uploaded", done.stderr)
    assert found, done.stderr
    return found.group(1), int(found.group(2))


def test_push_pull_by_digest_and_a_second_push_uploads_nothing(archive: Archive, registry: Registry,
                                                               tmp_path: Path) -> None:
    ref = f"{registry.host}/base/debian:nightly"
    first = build(archive, tmp_path, "--push", ref, "--insecure-registry")
    digest, uploaded = _pushed(first)
    assert uploaded >= 3  # layer, config, lock, SBOM
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/base/debian@{digest}",
           f"oci:{tmp_path / 'pulled'}:x")
    raw = skopeo("inspect", "--raw", f"oci:{tmp_path / 'pulled'}:x")
    import hashlib

    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    again, uploaded = _pushed(build(archive, tmp_path, "--push", ref, "--insecure-registry"))
    assert (again, uploaded) == (digest, 0)


def _publish_loop() -> str:
    """The README's nightly script."""
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- publish-loop -->\n```sh\n(.*?)```", text, re.S)
    assert found, "README has no publish-loop script"
    script = found.group(1)
    assert len(script.strip().splitlines()) == 5
    return script


def _layers(registry: Registry, repo_ref: str) -> list[str]:
    raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{repo_ref}"))
    return [layer["digest"] for layer in raw["layers"]]


def test_refresh_from_the_registry_exits_0_then_10_with_the_readme_loop(archive: Archive, registry: Registry,
                                                                       tmp_path: Path) -> None:
    ref = f"{registry.host}/base/debian:bookworm"
    build(archive, tmp_path, "--push", ref, "--insecure-registry", "--layers", "3")
    before = _layers(registry, ref)
    script = tmp_path / "nightly.sh"
    script.write_text(_publish_loop())
    env = {**os.environ, "REF": ref, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "SOURCE_DATE_EPOCH": EPOCH}
    run = ["sh", str(script), "--insecure-registry", "--cache-dir", str(tmp_path / "cache2")]
    quiet = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and "no change" in quiet.stdout, quiet.stdout + quiet.stderr
    assert not (tmp_path / "changes.json").exists()
    archive.upgrade()
    pushed = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert pushed.returncode == 0 and f"pushed {ref}" in pushed.stdout, pushed.stdout + pushed.stderr
    report = json.loads((tmp_path / "changes.json").read_text())
    assert "hello" in json.dumps(report) and "1.1" in json.dumps(report)
    after = _layers(registry, ref)
    assert len(after) == len(before) == 3
    assert len(set(after) - set(before)) == 1, (before, after)  # only hello's layer changed
    direct = cli("refresh", "--from", ref, "--insecure-registry", "--cache-dir", str(tmp_path / "cache2"),
                 env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert direct.returncode == 0, direct.stderr  # published: nothing changed since


def test_two_platforms_make_one_index_foreign_ones_in_extract_mode(archive: Archive, registry: Registry,
                                                                   tmp_path: Path) -> None:
    ref = f"{registry.host}/base/multi:1"
    done = build(archive, tmp_path, "--platform", "amd64,arm64", "--push", ref, "--insecure-registry")
    if os.uname().machine == "x86_64" and not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        assert "mode: extract (arm64 binaries cannot run on this x86_64 host" in done.stderr, done.stderr
    index = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = sorted((m["platform"]["architecture"], m["platform"].get("variant", "")) for m in index["manifests"])
    assert platforms == [("amd64", ""), ("arm64", "v8")]
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'all'}:1")
    again = cli("refresh", "--from", ref, "--insecure-registry", "--cache-dir", str(tmp_path / "cache"),
                env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert again.returncode == 0 and "nothing changed" in again.stderr, again.stderr


def test_refresh_from_one_repository_to_another_mounts_what_it_holds(archive: Archive, registry: Registry,
                                                                    tmp_path: Path) -> None:
    source, target = f"{registry.host}/base/stable:1", f"{registry.host}/base/candidate:1"
    build(archive, tmp_path, "--push", source, "--insecure-registry", "--layers", "3")
    archive.upgrade()
    done = cli("refresh", "--from", source, "--push", target, "--insecure-registry", "--cache-dir",
               str(tmp_path / "cache"), env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert done.returncode == 10, done.stderr
    mounted = re.search(r"pushed \S+@sha256:[0-9a-f]{64}: (\d+) blobs uploaded, (\d+) already there, (\d+) mounted",
                        done.stderr)
    assert mounted and int(mounted.group(3)) >= 2, done.stderr  # the unchanged layers came from base/stable
    assert len(_layers(registry, target)) == 3
    assert _layers(registry, source) != _layers(registry, target)  # the source is left as it was
