"""Container images (bootstrap.image), judged by the real tools: skopeo reads and copies the
layouts, umoci unpacks them, podman loads the archives. Runs as root (owners 0:42, device
nodes from the manifest)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bootstrap.image.layout as layout_module
from bootstrap.errors import PackError, UsageError
from bootstrap.image import (
    DEFAULT_PATH,
    Attachment,
    ImageSpec,
    Layer,
    LayoutWriter,
    Platform,
    parse_tag,
    split_layers,
    with_env,
)
from bootstrap.image.layers import REST
from bootstrap.pack import ImageConfig, write_output
from bootstrap.pack.tar import walk, write_tar
from bootstrap.types import FileEntry
from tests.core.unpack_helpers import run

EPOCH = 1700000000
AMD64 = Platform("amd64")
ARM64 = Platform("arm64", "v8")
SPEC = ImageSpec(cmd=("/bin/sh", "-l"), entrypoint=("/usr/bin/env",),
                 env=with_env((DEFAULT_PATH,), ["LANG=C.UTF-8"]), workdir="/root", user="0:0",
                 labels=(("org.example.kind", "test"),), annotations=(("org.example.note", "hello"),))
NULL = FileEntry("dev/null", "char", 0o666, 0, 0, EPOCH, devmajor=1, devminor=3)
ZERO = FileEntry("dev/zero", "char", 0o666, 0, 0, EPOCH, devmajor=1, devminor=5)  # in nobody's manifest
CONSOLE = FileEntry("dev/console", "char", 0o600, 0, 5, EPOCH, devmajor=5, devminor=1)
# Four packages as their manifests say their paths (bin/sh through the merged-/usr link).
OWNERS: list[tuple[str, list[str]]] = [
    ("base-files", ["bin", "etc", "etc/passwd", "usr", "usr/bin", "usr/lib", "var", "dev", "dev/null"]),
    ("libc", ["usr/lib", "usr/lib/libc.so.6", "usr/lib/libc.so"]),
    ("busybox", ["bin/busybox", "bin/sh", "usr/bin", "dev/console"]),
    ("login", ["etc/shadow", "usr/bin/su"]),
]


def make_tree(base: Path, libc: bytes = b"libc") -> Path:
    """A small merged-/usr root: a hard-linked pair, a setuid file, a 0:42 file, symlinks,
    a sticky directory, files no package owns."""
    root = base / "root"
    for d in ("etc", "usr/bin", "usr/lib", "var/lib/db", "tmp", "dev"):
        (root / d).mkdir(parents=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "bin").symlink_to("usr/bin")
    (root / "usr/bin/busybox").write_bytes(bytes(range(256)) * 160)  # the largest package
    os.link(root / "usr/bin/busybox", root / "usr/bin/sh")
    (root / "usr/lib/libc.so.6").write_bytes(libc * 4096)  # same size whatever `libc` says
    (root / "usr/lib/libc.so").symlink_to("libc.so.6")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chown(root / "etc/shadow", 0, 42)
    os.chmod(root / "etc/shadow", 0o640)
    (root / "usr/bin/su").write_text("su\n")
    os.chmod(root / "usr/bin/su", 0o4755)
    (root / "etc/hostname").write_text("made-by-a-script\n")  # no package owns these
    (root / "var/lib/db/status").write_text("installed\n")
    return root


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


def write(final: Path, fmt: str, root: Path, *, layers: list[Layer] | None = None,
          tags: tuple[str, ...] = ("img:1.0",), attachments: tuple[Attachment, ...] = (),
          platforms: tuple[Platform, ...] = (AMD64,)) -> Path:
    with LayoutWriter(final, fmt) as writer:
        for platform in platforms:
            writer.add(root, platform, SPEC, epoch=EPOCH, devices=[NULL], layers=layers, attachments=attachments)
        return writer.finish(tags)


def blob(layout: Path, digest: str) -> Any:
    return json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes())


def image_manifest(layout: Path) -> Any:
    return blob(layout, json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"])


def snapshot(top: Path) -> dict[str, tuple[object, ...]]:
    """What a tree says of each path: type, mode, owner, link target or content digest."""
    found: dict[str, tuple[object, ...]] = {}
    for rel in walk(top):
        path = os.path.join(os.fsencode(top), rel) if rel else os.fsencode(top)
        st = os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFLNK:
            what: object = os.readlink(path)
        elif kind == stat.S_IFREG:
            what = hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()
        else:
            what = st.st_rdev if kind == stat.S_IFCHR else None
        found[os.fsdecode(rel)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what)
    return found


def linked(top: Path) -> set[frozenset[str]]:
    """The paths of each hard-linked inode."""
    inodes: dict[int, set[str]] = {}
    for rel in walk(top):
        st = os.lstat(os.path.join(os.fsencode(top), rel) if rel else top)
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            inodes.setdefault(st.st_ino, set()).add(os.fsdecode(rel))
    return {frozenset(paths) for paths in inodes.values()}


def reference_tree(root: Path, scratch: Path) -> Path:
    """The root as pack.write_tar packs it, extracted by GNU tar."""
    scratch.mkdir()
    chunks: list[bytes] = []
    write_tar(root, chunks.append, devices=[NULL], source_date_epoch=EPOCH)
    (scratch / "ref.tar").write_bytes(b"".join(chunks))
    (scratch / "tree").mkdir()
    run("tar", "--numeric-owner", "-xpf", scratch / "ref.tar", "-C", scratch / "tree")
    return scratch / "tree"


@pytest.mark.parametrize("split", [False, True])
def test_oci_layout_read_and_unpacked_by_the_tools(tree: Path, tmp_path: Path, split: bool) -> None:
    layers = split_layers(tree, OWNERS, 3) if split else None
    out = write(tmp_path / "image", "oci", tree, layers=layers)
    info = json.loads(run("skopeo", "inspect", "--config", f"oci:{out}:1.0"))
    assert (info["architecture"], info["os"]) == ("amd64", "linux") and "variant" not in info
    assert info["config"] == {"Cmd": ["/bin/sh", "-l"], "Entrypoint": ["/usr/bin/env"],
                              "Env": [DEFAULT_PATH, "LANG=C.UTF-8"], "WorkingDir": "/root", "User": "0:0",
                              "Labels": {"org.example.kind": "test"}}
    assert info["created"] == "2023-11-14T22:13:20Z" and len(info["rootfs"]["diff_ids"]) == (3 if split else 1)
    manifest = image_manifest(out)
    assert manifest["annotations"] == {"org.example.note": "hello",
                                       "org.opencontainers.image.created": "2023-11-14T22:13:20Z"}
    run("umoci", "unpack", "--image", f"{out}:1.0", tmp_path / "bundle")
    unpacked, expected = tmp_path / "bundle/rootfs", reference_tree(tree, tmp_path / "ref")
    assert snapshot(unpacked) == snapshot(expected)
    assert linked(unpacked) == linked(expected) == {frozenset({"usr/bin/busybox", "usr/bin/sh"})}
    assert snapshot(unpacked)["etc/shadow"][1:4] == (0o640, 0, 42)
    assert snapshot(unpacked)["usr/bin/su"][1] == 0o4755


def layer_members(layout: Path) -> list[list[str]]:
    """The entry names of each layer of the layout's (first) image, bottom first."""
    found = []
    for layer in image_manifest(layout)["layers"]:
        with tarfile.open(layout / "blobs/sha256" / layer["digest"].removeprefix("sha256:")) as tar:
            found.append(tar.getnames())
    return found


def test_split_by_package(tree: Path, tmp_path: Path) -> None:
    layers = split_layers(tree, OWNERS, 3)
    assert layers == split_layers(tree, OWNERS, 3)  # deterministic
    assert [layer.name for layer in layers] == ["busybox", "libc", REST]  # largest first, the rest last
    disk = walk(tree)
    names = [layer.name for layer in layers]
    owned = {os.fsencode(path): [g if g in names else REST for g, paths in OWNERS if path in paths]
             for _, paths in OWNERS for path in paths}
    for rel in disk:
        holders = {layer.name for layer in layers if rel in layer.paths}
        if not rel:
            assert holders == set(names)
        elif stat.S_ISDIR(os.lstat(tree / os.fsdecode(rel)).st_mode):
            # In each layer with something below it, and in its owners' (the rest when nobody's).
            below = {layer.name for layer in layers if any(p.startswith(rel + b"/") for p in layer.paths)}
            assert holders == below | set(owned.get(rel) or [REST]), rel
        else:
            assert len(holders) == 1, (rel, holders)
    by_name = {layer.name: layer.paths for layer in layers}
    assert by_name["busybox"] == {b"usr/bin/busybox", b"usr/bin/sh", b"usr/bin", b"usr", b"dev", b"dev/console", b""}
    assert {b"etc/hostname", b"var/lib/db/status", b"bin", b"tmp", b"etc/shadow", b"dev/null"} <= by_name[REST]
    assert [(layer.name, layer.paths) for layer in split_layers(tree, OWNERS, 1)] == [("(all)", frozenset(disk))]
    # The layer tarballs: together the whole tar, each entry but directories in one; the device
    # nodes the packer adds from the manifests too: each with its owner, dev/zero (nobody's) last.
    with LayoutWriter(tmp_path / "nodes", "oci") as writer:
        writer.add(tree, AMD64, SPEC, epoch=EPOCH, devices=[NULL, ZERO, CONSOLE], layers=layers)
        writer.finish(["1"])
    members = layer_members(tmp_path / "nodes")
    chunks: list[bytes] = []
    write_tar(tree, chunks.append, devices=[NULL, ZERO, CONSOLE], source_date_epoch=EPOCH)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as whole:
        everything = {member.name: member.isdir() for member in whole.getmembers()}
    assert set().union(*members) == set(everything)
    for name, is_dir in everything.items():
        assert is_dir or sum(name in member for member in members) == 1, name
    assert {"./dev/console", "./dev"} <= set(members[0]) and {"./dev/null", "./dev/zero", "./dev"} <= set(members[-1])


def test_a_changed_package_changes_only_its_layer(tmp_path: Path) -> None:
    digests = []
    for n, libc in enumerate((b"libc", b"LIBC")):
        root = make_tree(tmp_path / f"build{n}", libc=libc)
        out = write(tmp_path / f"image{n}", "oci", root, layers=split_layers(root, OWNERS, 3))
        digests.append([layer["digest"] for layer in image_manifest(out)["layers"]])
    busybox, libc_layer, rest = zip(*digests, strict=True)
    assert busybox[0] == busybox[1] and rest[0] == rest[1] and libc_layer[0] != libc_layer[1]


@pytest.fixture()
def podman(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """podman with a private store under `tmp_path` (its runroot must be a short path)."""
    runroot = Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp"))

    def call(*argv: str | Path) -> str:
        return run("podman", "--root", tmp_path / "storage", "--runroot", runroot, "--storage-driver", "vfs",
                   "--events-backend", "none", *argv).decode()

    yield call
    shutil.rmtree(runroot, ignore_errors=True)


def test_docker_archives(tree: Path, tmp_path: Path, podman: Callable[..., str]) -> None:
    layout = write(tmp_path / "image", "oci", tree, layers=split_layers(tree, OWNERS, 3))
    diff_ids = json.loads(run("skopeo", "inspect", "--config", f"oci:{layout}:1.0"))["rootfs"]["diff_ids"]
    # skopeo's own docker archive of our layout, and back: the same layers.
    run("skopeo", "copy", f"oci:{layout}:1.0", f"docker-archive:{tmp_path / 'copied.tar'}:img:1.0")
    run("skopeo", "copy", f"docker-archive:{tmp_path / 'copied.tar'}", f"oci:{tmp_path / 'back'}:1.0")
    back = json.loads(run("skopeo", "inspect", "--config", f"oci:{tmp_path / 'back'}:1.0"))
    assert back["rootfs"]["diff_ids"] == diff_ids
    # Ours: podman loads it by its tags, skopeo reads it; its layers are the layout's, plain.
    ours = write(tmp_path / "docker.tar", "docker", tree, layers=split_layers(tree, OWNERS, 3),
                 tags=("img:1.0", "img:stable"))
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{ours}"))
    assert info["Layers"] == diff_ids and info["Architecture"] == "amd64"
    assert "Loaded image: localhost/img:1.0" in podman("load", "-i", ours)
    seen = json.loads(podman("image", "inspect", "localhost/img:stable"))[0]
    assert sorted(seen["RepoTags"]) == ["localhost/img:1.0", "localhost/img:stable"]
    assert (seen["Architecture"], seen["Config"]["Cmd"]) == ("amd64", ["/bin/sh", "-l"])
    # The packer's --format docker (one tag: podman reads its index.json as an oci-archive).
    single = write_output(tree, str(tmp_path / "single.tar"), fmt="docker", devices=[NULL], source_date_epoch=EPOCH,
                          config=ImageConfig(arch="arm64", variant="v8", ref="one:2"))
    assert single is not None
    assert "Loaded image: localhost/one:2" in podman("load", "-i", single)
    seen = json.loads(podman("image", "inspect", "localhost/one:2"))[0]
    assert (seen["Architecture"], seen["Config"]["Cmd"]) == ("arm64", ["/bin/sh"])


def test_oci_archive(tree: Path, tmp_path: Path, podman: Callable[..., str]) -> None:
    out = write(tmp_path / "image.tar", "oci", tree, tags=("img:1.0",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar", "root"]  # no staging left
    info = json.loads(run("skopeo", "inspect", f"oci-archive:{out}:1.0"))
    assert info["Architecture"] == "amd64" and info["Labels"] == {"org.example.kind": "test"}
    loaded = podman("load", "-i", out)
    name = loaded.split("Loaded image: ", 1)[1].split()[0]  # podman names it after the ref (localhost/1.0)
    config = image_manifest_in_tar(out)["config"]["digest"].removeprefix("sha256:")
    assert json.loads(podman("image", "inspect", name))[0]["Id"] == config


def image_manifest_in_tar(archive: Path) -> Any:
    with tarfile.open(archive) as tar:
        def read(name: str) -> Any:
            member = tar.extractfile(name)
            assert member is not None
            return json.loads(member.read())

        digest = read("./index.json")["manifests"][0]["digest"].removeprefix("sha256:")
        return read(f"./blobs/sha256/{digest}")


def test_multi_platform(tree: Path, tmp_path: Path) -> None:
    out = write(tmp_path / "image", "oci", tree, platforms=(ARM64, AMD64), tags=("img:1.0",))
    index = json.loads(run("skopeo", "inspect", "--raw", f"oci:{out}:1.0"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    run("skopeo", "copy", "--all", f"oci:{out}:1.0", f"oci:{tmp_path / 'copy'}:1.0")
    copied = json.loads(run("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'copy'}:1.0"))
    assert [m["digest"] for m in copied["manifests"]] == [m["digest"] for m in index["manifests"]]
    with pytest.raises(UsageError, match="a docker archive holds one platform"):
        write(tmp_path / "docker.tar", "docker", tree, platforms=(AMD64, ARM64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "image", "root"]


def test_same_tree_same_bytes(tree: Path, tmp_path: Path) -> None:
    layers = split_layers(tree, OWNERS, 3)
    first = {name: write(tmp_path / f"1-{name}", fmt, tree, layers=layers)
             for name, fmt in (("dir", "oci"), ("oci.tar", "oci"), ("docker.tar", "docker"))}
    for path in (tree / "etc/passwd", tree / "usr/bin", tree):
        os.utime(path, None)  # newer than the epoch: clamped all the same
    second = {name: write(tmp_path / f"2-{name}", fmt, tree, layers=split_layers(tree, OWNERS, 3))
              for name, fmt in (("dir", "oci"), ("oci.tar", "oci"), ("docker.tar", "docker"))}
    assert (first["dir"] / "index.json").read_bytes() == (second["dir"] / "index.json").read_bytes()
    assert sorted(os.listdir(first["dir"] / "blobs/sha256")) == sorted(os.listdir(second["dir"] / "blobs/sha256"))
    for name in ("oci.tar", "docker.tar"):
        assert first[name].read_bytes() == second[name].read_bytes()


def test_attachments(tree: Path, tmp_path: Path, podman: Callable[..., str]) -> None:
    document = json.dumps({"packages": ["busybox", "libc"]}, sort_keys=True).encode()
    note = Attachment("application/vnd.example.lock.v1+json", "application/vnd.example.lock.v1+json", document,
                      "org.example.lock.digest", "image.lock")
    out = write(tmp_path / "image", "oci", tree, attachments=(note,))
    entries = json.loads((out / "index.json").read_bytes())["manifests"]
    image, artifact = entries
    manifest = blob(out, image["digest"])
    digest = manifest["annotations"]["org.example.lock.digest"]
    assert (out / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes() == document
    assert artifact["artifactType"] == note.artifact_type and "annotations" not in artifact
    made = blob(out, artifact["digest"])
    assert made["subject"] == {key: image[key] for key in ("mediaType", "digest", "size")}
    assert made["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                              "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()}
    assert made["layers"] == [{"mediaType": note.media_type, "digest": digest, "size": len(document),
                               "annotations": {"org.opencontainers.image.title": "image.lock"}}]
    run("skopeo", "copy", f"oci:{out}:1.0", f"oci:{tmp_path / 'copy'}:1.0")
    assert json.loads(run("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'copy'}:1.0"))["annotations"][
        "org.example.lock.digest"] == digest
    # An archive names its image alone (podman load refuses more), and keeps the blob.
    archive = write(tmp_path / "image.tar", "oci", tree, attachments=(note,))
    assert image_manifest_in_tar(archive)["annotations"]["org.example.lock.digest"] == digest
    run("skopeo", "inspect", f"oci-archive:{archive}")
    assert "Loaded image" in podman("load", "-i", archive)


def leftovers(where: Path) -> list[str]:
    return sorted(p.name for p in where.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("name", ["image", "image.tar", "docker.tar"])
def test_failures_leave_nothing(tree: Path, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = "docker" if name == "docker.tar" else "oci"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackError):  # the root is not there
        write(out / name, fmt, tmp_path / "missing")
    assert list(out.iterdir()) == []
    calls: list[int] = []

    def failing(*args: Any, **kw: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second layer (a layout directory) or the archive itself
            raise OSError(28, "No space left on device")
        write_tar(*args, **kw)

    monkeypatch.setattr(layout_module, "write_tar", failing)
    layers = split_layers(tree, OWNERS, 3) if name == "image" else None
    with pytest.raises(PackError, match="no space left"):
        write(out / name, fmt, tree, layers=layers)
    assert list(out.iterdir()) == []
    with LayoutWriter(out / name, fmt):  # left without finish: nothing either
        assert leftovers(out)
    assert list(out.iterdir()) == [] and leftovers(tmp_path) == []


def test_tags_and_env() -> None:
    assert [str(parse_tag(t)) for t in ("img:1", "latest", "reg.example:5000/a/b:v2", "a/b")] == [
        "img:1", "latest", "reg.example:5000/a/b:v2", "a/b:latest"]
    for bad in ("Img:1", ":1", "img:", "a b", "img:" + "x" * 200):
        with pytest.raises(UsageError):
            parse_tag(bad)
    assert with_env((DEFAULT_PATH, "A=1"), ["PATH=/bin", "B=2", "A=3"]) == ("PATH=/bin", "A=3", "B=2")
    with pytest.raises(UsageError):
        with_env((), ["NOVALUE"])
