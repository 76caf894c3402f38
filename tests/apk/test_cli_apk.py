"""Alpine through the command line, against a CDN-shaped mirror on 127.0.0.1, judged by the real
apk-tools of the real minirootfs tarballs (2.12.9 in 3.16.9 x86_64, 2.7.6 in 3.6.5 x86).

The mirror is laid out as dl-cdn.alpinelinux.org is:

    v3.16/releases/x86_64/alpine-minirootfs-3.16.9-x86_64.tar.gz (+ .sha256, latest-releases.yaml)
    v3.16/main/x86_64/APKINDEX.tar.gz + hello-apk-1.2.3-r1.apk    v3.16/community/x86_64/APKINDEX.tar.gz
    v3.6/releases/x86/alpine-minirootfs-3.6.5-x86.tar.gz (+ .sha256)   v3.6/{main,community}/x86/...
    v3.17/{main,community}/x86_64/...     (no releases/: the index-only builds)

Every index and package is signed by a throwaway RSA key given with `--keyring`. The v3.17
repository holds an index-only system: musl and busybox repackaged from the 3.16.9 minirootfs's
own binaries, a baselayout with its passwd/group, an `alpine-base` pulling them in, and hello-apk.
The reference for every install is what the real apk does itself (`apk add --allow-untrusted`
in a copy of the untouched minirootfs, `apk add --root --initdb` for the index-only root).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.adapters.apk.db import parse_installed
from tests.apk.apkrepo import (
    ApkSpec,
    Key,
    _signature_stream,
    chroot,
    extract_minirootfs,
    make_apk,
    make_index,
    make_key,
)
from tests.server import Server

MINI16 = "alpine-minirootfs-3.16.9-x86_64.tar.gz"
MINI36 = "alpine-minirootfs-3.6.5-x86.tar.gz"
HELLO = "hello-apk-1.2.3-r1.apk"
HELLO_PATHS = ("usr/bin/hello-apk", "usr/bin/hi", "etc/hello.conf", "var/lib/hello")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chroot") is None
                                or shutil.which("openssl") is None,
                                reason="needs root (chroot into the built roots) and openssl")


@dataclass(frozen=True)
class Cdn:
    """The served mirror: its URL and directory, the signing key and a key that signed nothing."""

    url: str
    root: Path
    key: Key
    other: Key


def _hello(arch: str = "x86_64", name: str = "hello-apk") -> ApkSpec:
    """A package with a script, a symlink, a 0640 root:shadow file and a nobody:nogroup 0750 dir."""
    return ApkSpec(
        name=name, version="1.2.3-r1", arch=arch, depends=("busybox",),
        files={"usr": ("dir",), "usr/bin": ("dir",), f"usr/bin/{name}": b"#!/bin/sh\nuname -m\n",
               "usr/bin/hi": ("symlink", name), "etc": ("dir",), "etc/hello.conf": b"greeting=1\n",
               "var": ("dir",), "var/lib": ("dir",), "var/lib/hello": ("dir",)},
        owners={f"usr/bin/{name}": ("root", "root", 0, 0, 0o755),
                "etc/hello.conf": ("root", "shadow", 0, 42, 0o640),
                "var/lib/hello": ("nobody", "nogroup", 65534, 65533, 0o750)},
        scripts={".post-install": "#!/bin/sh\nuname -m > /var/lib/hello/post-install-ran\n"})


# Alpine's own busybox.post-install: the applet links are made by the binary itself.
BUSYBOX_POST_INSTALL = """#!/bin/busybox sh
/bin/busybox mkdir -p "/bin" "/sbin" "/usr/bin" "/usr/sbin"
exec /bin/busybox --install -s
"""


def _from_tarball(tarball: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        return {name: tar.extractfile(f"./{name}").read() for name in names}  # type: ignore[union-attr]


def _index_only_specs(tarball: Path) -> list[ApkSpec]:
    """A bootable system from the APKINDEX alone: the minirootfs's musl and busybox, repackaged."""
    real = _from_tarball(tarball, ("lib/ld-musl-x86_64.so.1", "bin/busybox", "etc/passwd", "etc/group"))
    exe = ("root", "root", 0, 0, 0o755)
    dirs = {d: ("dir",) for d in ("bin", "dev", "etc", "lib", "proc", "root", "sys", "tmp", "usr", "var")}
    return [
        ApkSpec("musl", "1.2.3-r0", provides=("so:libc.musl-x86_64.so.1=1",),
                files={"lib": ("dir",), "lib/ld-musl-x86_64.so.1": real["lib/ld-musl-x86_64.so.1"],
                       "lib/libc.musl-x86_64.so.1": ("symlink", "ld-musl-x86_64.so.1")},
                owners={"lib/ld-musl-x86_64.so.1": exe}),
        ApkSpec("busybox", "1.35.0-r17", depends=("so:libc.musl-x86_64.so.1",), provides=("/bin/sh",),
                files={"bin": ("dir",), "bin/busybox": real["bin/busybox"], "bin/sh": ("symlink", "/bin/busybox")},
                owners={"bin/busybox": exe}, scripts={".post-install": BUSYBOX_POST_INSTALL}),
        ApkSpec("alpine-baselayout", "3.2.0-r23",
                files={**dirs, "etc/passwd": real["etc/passwd"], "etc/group": real["etc/group"]},
                owners={"tmp": ("root", "root", 0, 0, 0o1777), "root": ("root", "root", 0, 0, 0o700)}),
        ApkSpec("alpine-base", "3.17.0-r0", depends=("alpine-baselayout", "busybox")),
        _hello(),
    ]


def _releases(mirror: Path, branch: str, arch: str, tarball: Path, *, yaml: bool) -> None:
    """releases/<arch>/ as the CDN has it: the tarball, its .sha256, latest-releases.yaml."""
    rel = mirror / branch / "releases" / arch
    rel.mkdir(parents=True)
    shutil.copy(tarball, rel / tarball.name)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (rel / f"{tarball.name}.sha256").write_text(f"{digest}  {tarball.name}\n")
    version = tarball.name.removeprefix("alpine-minirootfs-").removesuffix(f"-{arch}.tar.gz")
    if yaml:
        (rel / "latest-releases.yaml").write_text(
            f"---\n-\n  title: \"Mini root filesystem\"\n  branch: {branch}\n  arch: {arch}\n"
            f"  version: {version}\n  flavor: alpine-minirootfs\n  file: {tarball.name}\n"
            f"  size: {tarball.stat().st_size}\n  sha256: {digest}\n")


def _repos(mirror: Path, branch: str, arch: str, key: Key, specs: list[ApkSpec]) -> None:
    """<branch>/main/<arch> with `specs`, and an empty community/<arch>, each index signed."""
    main, community = (mirror / branch / repo / arch for repo in ("main", "community"))
    for spec in specs:
        make_apk(spec, key, main)
    make_index(main, key, f"{branch} main (test)")
    community.mkdir(parents=True)
    make_index(community, key, f"{branch} community (test)")


@pytest.fixture(scope="module")
def cdn(realdata: Path, tmp_path_factory: pytest.TempPathFactory):
    """The mirror, served on 127.0.0.1 for the module's tests (the server stops with it)."""
    mini = realdata / "apk" / "minirootfs"
    work = tmp_path_factory.mktemp("alpine-cdn")
    key = make_key(work / "keys")
    other = make_key(work / "other", "other@example.org-2.rsa.pub")
    mirror = work / "mirror"
    _releases(mirror, "v3.16", "x86_64", mini / MINI16, yaml=True)
    _repos(mirror, "v3.16", "x86_64", key, [_hello()])
    _releases(mirror, "v3.6", "x86", mini / MINI36, yaml=False)  # alpine3.6.5 pins its point release
    _repos(mirror, "v3.6", "x86", key, [_hello("x86", "hello32")])
    _repos(mirror, "v3.17", "x86_64", key, _index_only_specs(mini / MINI16))
    with Server(mirror) as server:
        yield Cdn(server.url, mirror, key, other)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          timeout=120)


def build(url: str, key: Path, tmp_path: Path, profile: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`rootfs-bootstrap PROFILE --mirror URL --keyring KEY -o <tmp>/out/rootfs.tar` (mode root)."""
    (tmp_path / "out").mkdir(exist_ok=True)
    return run_cli(profile, "--mirror", url, "--keyring", str(key), "--cache-dir", str(tmp_path / "cache"),
                   "--mode", "root", "-q", *extra, "-o", str(tmp_path / "out" / "rootfs.tar"))


def unpack(tar: Path, dest: Path) -> Path:
    """The tarball as root would unpack it: owners and modes as the tar says."""
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tar), "-C", str(dest), "--numeric-owner"], check=True)
    return dest


def stanza(root: Path, name: str) -> tuple[object, ...]:
    """PKG's stanza in /lib/apk/db/installed: header lines, then directories with their files."""
    found = [s for s in parse_installed((root / "lib/apk/db/installed").read_text()) if s.name == name]
    assert len(found) == 1, f"{name} appears {len(found)} times in {root}/lib/apk/db/installed"
    dirs = sorted((d.name, d.lines, [(f.name, f.lines) for f in d.files]) for d in found[0].dirs)
    return (found[0].header, dirs)


def owner_mode(root: Path, rel: str) -> tuple[int, int, int]:
    st = os.lstat(root / rel)
    return st.st_uid, st.st_gid, st.st_mode


def test_alpine316_include_is_what_apk_add_gives(cdn: Cdn, tmp_path: Path) -> None:
    """(1) minirootfs + --include: runs, and the real apk sees what its own `apk add` gives."""
    done = build(cdn.url, cdn.key.public, tmp_path, "alpine3.16", "--include", "hello-apk")
    assert done.returncode == 0, done.stderr
    tar = tmp_path / "out" / "rootfs.tar"
    ours = unpack(tar, tmp_path / "ours")
    untouched = extract_minirootfs(MINI16, tmp_path / "untouched")
    ref = tmp_path / "ref"
    shutil.copytree(untouched, ref, symlinks=True)
    for root in (ours, ref):
        shutil.copy(cdn.root / "v3.16/main/x86_64" / HELLO, root / "tmp" / HELLO)
    chroot(ref, f"apk add --no-network --allow-untrusted /tmp/{HELLO}")

    assert chroot(ours, "/bin/sh -c 'echo ok; hello-apk'").stdout == "ok\nx86_64\n"
    assert chroot(ours, "apk info -e hello-apk").stdout == "hello-apk\n"
    assert "OK" in chroot(ours, f"apk verify /tmp/{HELLO}").stdout  # its key is in /etc/apk/keys
    # Beyond the untouched minirootfs, apk audit sees only the repository key the build added.
    audit = chroot(ours, "apk audit").stdout.splitlines()
    assert sorted(audit) == sorted(chroot(untouched, "apk audit").stdout.splitlines()
                                   + [f"A etc/apk/keys/{cdn.key.name}"])
    assert stanza(ours, "hello-apk") == stanza(ref, "hello-apk")
    with tarfile.open(tar) as archive:
        members = {m.name: m for m in archive.getmembers()}
    for rel in HELLO_PATHS:
        uid, gid, mode = owner_mode(ref, rel)
        member = members[f"./{rel}"]
        assert (member.uid, member.gid, member.mode) == (uid, gid, mode & 0o7777), rel
        assert owner_mode(ours, rel) == (uid, gid, mode), rel
    assert (ours / "var/lib/hello/post-install-ran").read_text() == "x86_64\n"  # ran in the chroot
    ref_world = [line.split("><")[0] for line in (ref / "etc/apk/world").read_text().splitlines()]
    assert (ours / "etc/apk/world").read_text().splitlines() == ref_world
    assert (ours / "etc/apk/repositories").read_text() == f"{cdn.url}/v3.16/main\n{cdn.url}/v3.16/community\n"


def test_alpine365_x86_is_a_32bit_root_that_runs(cdn: Cdn, tmp_path: Path) -> None:
    """(2) the pinned 3.6.5 x86 minirootfs: 32-bit binaries, scripts run under linux32."""
    if shutil.which("setarch") is None:
        pytest.skip("needs setarch (util-linux) for linux32")
    done = build(cdn.url, cdn.key.public, tmp_path, "alpine3.6.5", "--arch", "x86", "--include", "hello32")
    assert done.returncode == 0, done.stderr
    root = unpack(tmp_path / "out" / "rootfs.tar", tmp_path / "root")
    assert (root / "bin/busybox").read_bytes()[:5] == b"\x7fELF\x01"  # ELFCLASS32
    assert (root / "lib/ld-musl-i386.so.1").exists()
    run = chroot(root, "uname -m; hello32; apk --version; apk info -e hello32", linux32=True)
    assert run.stdout.splitlines() == ["i686", "i686", "apk-tools 2.7.6, compiled for x86.", "hello32"]
    assert (root / "var/lib/hello/post-install-ran").read_text() == "i686\n"
    assert (root / "etc/apk/arch").read_text() == "x86\n"
    untouched = extract_minirootfs(MINI36, tmp_path / "untouched")
    audit = chroot(root, "apk audit", linux32=True).stdout.splitlines()
    assert sorted(audit) == sorted(chroot(untouched, "apk audit", linux32=True).stdout.splitlines()
                                   + [f"A etc/apk/keys/{cdn.key.name}"])


def _corrupt_package(mirror: Path, cdn: Cdn) -> None:
    """A byte flipped inside the data stream of hello-apk (same size, same control stream)."""
    apk = mirror / "v3.16/main/x86_64" / HELLO
    data = bytearray(apk.read_bytes())
    data[-40] ^= 0xFF
    apk.write_bytes(bytes(data))


def _wrong_sha256(mirror: Path, cdn: Cdn) -> None:
    """The .sha256 the CDN publishes does not match the minirootfs tarball."""
    (mirror / "v3.16/releases/x86_64" / f"{MINI16}.sha256").write_text(f"{'0' * 64}  {MINI16}\n")


def _forged_index(mirror: Path, cdn: Cdn) -> None:
    """The index's signature names the trusted key but was made by another one."""
    from bootstrap.adapters.apk.package import split_gzip_streams

    index = mirror / "v3.16/main/x86_64/APKINDEX.tar.gz"
    control = split_gzip_streams(index.read_bytes(), "index")[1]
    forger = Key(cdn.key.name, cdn.other.private, cdn.other.public)
    index.write_bytes(_signature_stream(forger, control) + control)


FAILURES = {
    # case: (how the mirror is spoiled, key given to --keyring is the other one, exit code, words)
    "corrupt-package": (_corrupt_package, False, 3, f"{HELLO}: data does not match the datahash"),
    "wrong-minirootfs-sha256": (_wrong_sha256, False, 3, f"{MINI16}: sha256 mismatch"),
    "index-by-untrusted-key": (None, True, 4, "v3.16/main is signed by no trusted key"),
    "forged-index-signature": (_forged_index, False, 4, "v3.16/main: bad signature by key test@example.org-1.rsa.pub"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failures_stop_with_one_line_and_no_output(case: str, cdn: Cdn, tmp_path: Path) -> None:
    """(3) a wrong checksum or signature: non-zero exit, one error line, nothing written."""
    spoil, other_key, code, words = FAILURES[case]
    mirror = tmp_path / "mirror"
    shutil.copytree(cdn.root / "v3.16", mirror / "v3.16")
    if spoil is not None:
        spoil(mirror, cdn)
    key = cdn.other.public if other_key else cdn.key.public
    with Server(mirror) as server:
        done = build(server.url, key, tmp_path, "alpine3.16", "--include", "hello-apk")
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    errors = [line for line in lines if not line.startswith("hint: ")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and words in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("variant, include, world", [
    ("index", (), ["alpine-base"]),                       # alpine-base from the APKINDEX, as apko does
    ("custom", ("hello-apk",), ["hello-apk"]),            # only --include and its dependencies
])
def test_index_only_root_is_what_apk_initdb_gives(variant: str, include: tuple[str, ...], world: list[str],
                                                  cdn: Cdn, tmp_path: Path) -> None:
    """(4) no tarball: the root runs, and the real apk (`--root` from the 3.16.9 minirootfs)
    finds the same database, world, owners and modes as its own `add --initdb` gives."""
    args = [a for name in include for a in ("--include", name)]
    done = build(cdn.url, cdn.key.public, tmp_path, "alpine3.17", "--variant", variant, *args)
    assert done.returncode == 0, done.stderr
    assert "minirootfs" not in done.stderr
    judge = extract_minirootfs(MINI16, tmp_path / "judge")  # the real apk 2.12.9 runs here
    ours = unpack(tmp_path / "out" / "rootfs.tar", judge / "mnt/ours")
    repo = judge / "repo"
    shutil.copytree(cdn.root / "v3.17/main", repo / "main")
    (judge / "mnt/ref").mkdir()
    names = " ".join(world)
    chroot(judge, f"apk add --root /mnt/ref --initdb --no-network --allow-untrusted --repository /repo/main {names}")
    ref = judge / "mnt/ref"

    assert chroot(ours, "echo ok; uname -m").stdout == "ok\nx86_64\n"  # uname: a link busybox made
    installed = chroot(judge, "apk --root /mnt/ref info").stdout.split()
    assert "busybox" in installed and "musl" in installed
    assert sorted(chroot(judge, "apk --root /mnt/ours info").stdout.split()) == sorted(installed)
    for name in installed:
        assert chroot(judge, f"apk --root /mnt/ours info -e {name}").stdout == f"{name}\n"
        assert stanza(ours, name) == stanza(ref, name)
    assert (ours / "etc/apk/world").read_text().split() == world
    assert (ours / "etc/apk/repositories").read_text() == f"{cdn.url}/v3.17/main\n{cdn.url}/v3.17/community\n"
    assert (ours / "etc/apk/keys" / cdn.key.name).read_bytes() == cdn.key.public.read_bytes()
    apks = " ".join(f"/repo/main/{p.name}" for p in sorted((repo / "main").glob("*.apk")))
    assert chroot(judge, f"apk --root /mnt/ours verify {apks}").returncode == 0  # trusted by its keys
    audit = chroot(judge, "apk --root /mnt/ours audit").stdout.splitlines()
    ref_audit = chroot(judge, "apk --root /mnt/ref audit").stdout.splitlines()
    # (etc/apk/ belongs to no package here, so audit names the directory, not what it holds.)
    assert sorted(audit) == sorted(ref_audit), (audit, ref_audit)
    skeleton = ("tmp", "dev", "etc/apk", "lib/apk/db", "var/cache/apk", "var/cache/misc")
    for rel in ("bin/busybox", "bin/sh", "lib/ld-musl-x86_64.so.1", "bin/uname", *skeleton):
        assert owner_mode(ours, rel) == owner_mode(ref, rel), rel
    if variant == "index":
        for rel in ("root", "etc/passwd", "etc/group"):
            assert owner_mode(ours, rel) == owner_mode(ref, rel), rel
    if include:
        for rel in HELLO_PATHS:
            assert owner_mode(ours, rel) == owner_mode(ref, rel), rel
        assert (ours / "var/lib/hello/post-install-ran").read_text() == "x86_64\n"
