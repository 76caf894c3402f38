"""A tiny signed Debian-shaped archive (dpkg-deb, apt-ftparchive, gpg) for amd64 and arm64,
served on 127.0.0.1: busybox as `tiny-base`, `hello` depending on `libhello`, all of
Architecture: all. Used by the command-line and image tests of tests/core."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
ARCHES = "amd64 arm64"
# The request every test builds: no maintainer scripts to run (the archive has no dpkg).
SHAPE = ["--variant", "custom", "--include", "tiny-base,hello", "--mode", "extract"]


def debs(hello: str = "1.0") -> list[Deb]:
    return [
        Deb("tiny-base", arch="all", fields={"Priority": "required", "Essential": "yes"},
            files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
            symlinks={"/bin/sh": "busybox"}),
        Deb("hello", hello, arch="all", fields={"Depends": "libhello (>= 1.0)"},
            files={"/usr/bin/hello": f"#!/bin/sh\necho hi {hello}\n".encode()}, modes={"/usr/bin/hello": 0o755}),
        Deb("libhello", "1.0", arch="all", files={"/usr/lib/libhello.so.1": b"v1" * 1000}),
    ]


@dataclass
class Archive:
    """The served archive: `args` select it (--mirror, --keyring); `upgrade()` publishes hello 1.1."""

    args: list[str]
    work: Path
    mirror: Path
    url: str

    def upgrade(self) -> None:
        """hello 1.1 joins the pool (1.0 stays): a refresh finds an upgrade."""
        built = [build_deb(d, self.work / "debs2") for d in debs("1.1")[1:2]]
        build_repo(self.mirror, built, self.work / "gnupg", arch=ARCHES)


@contextmanager
def tiny_archive(work: Path) -> Iterator[Archive]:
    """Build the archive under `work` and serve it while the block runs."""
    keyring = make_key(work / "gnupg")
    mirror = work / "mirror"
    build_repo(mirror, [build_deb(d, work / "debs") for d in debs()], work / "gnupg", arch=ARCHES)
    with Server(mirror) as server:
        yield Archive(["--mirror", server.url, "--keyring", str(keyring)], work, mirror, server.url)
