"""The whole pipeline through the command line, against a local apt archive on 127.0.0.1 made
with dpkg-deb, apt-ftparchive and a throwaway gpg key: success, and every failure a user can
cause ending in one line, a non-zero exit and nothing at the output path."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_evil_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(shutil.which("apt-ftparchive") is None or shutil.which("gpg") is None,
                                reason="needs apt-ftparchive (apt-utils) and gpg")


def _packages(work: Path) -> list[Path]:
    if not BUSYBOX.exists():
        pytest.skip("needs a static /bin/busybox (busybox-static)")
    debs = [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
            files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
            symlinks={"/bin/sh": "busybox"}),
        # minbase is Priority: required + apt, as debootstrap's; this apt is a stand-in.
        Deb("apt", fields={"Priority": "important"}, files={"/usr/bin/apt-get": b"#!/bin/sh\n"},
            modes={"/usr/bin/apt-get": 0o755}),
        Deb("tiny-suid", fields={"Priority": "required"}, files={"/usr/bin/suidtool": b"#!/bin/sh\n"},
            modes={"/usr/bin/suidtool": 0o4755}),
        Deb("hello", fields={"Depends": "libhello (>= 2.0) | libhello-alt, virtual-thing"},
            files={"/usr/bin/hello": b"#!/bin/sh\necho hello\n"}, modes={"/usr/bin/hello": 0o755}),
        Deb("libhello", "1.0", files={"/usr/lib/libhello.so.1": b"v1"}),
        Deb("libhello", "2.1", files={"/usr/lib/libhello.so.2": b"v2"}),
        Deb("provider", fields={"Provides": "virtual-thing"}, files={"/usr/share/provider": b"p"}),
        Deb("needs-missing", fields={"Depends": "libnothere (>= 3)"}),
    ]
    paths = [build_deb(d, work) for d in debs]
    dotdot = tarfile.TarInfo("./../../escaped")
    dotdot.size = 2
    paths.append(build_evil_deb("evil-dotdot", [dotdot], work, {"./../../escaped": b"x\n"}))
    link = tarfile.TarInfo("./usr/share/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
    through = tarfile.TarInfo("./usr/share/link/escaped")
    through.size = 2
    paths.append(build_evil_deb("evil-symlink", [link, through], work, {"./usr/share/link/escaped": b"x\n"}))
    return paths


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    """(url, keyring, other_keyring, work dir) of a signed archive on 127.0.0.1."""
    work = tmp_path_factory.mktemp("aptrepo")
    keyring = make_key(work / "gnupg")
    other = make_key(work / "gnupg-other", "Someone Else")
    build_repo(work / "mirror", _packages(work / "debs"), work / "gnupg")
    with Server(work / "mirror") as server:
        yield server.url, keyring, other, work


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _common(archive, tmp_path: Path) -> list[str]:
    url, keyring, _, _ = archive
    return ["--mirror", url, "--keyring", str(keyring), "--cache-dir", str(tmp_path / "cache")]


def test_build_extract_mode_tarball(archive, tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    done = run("debian-bookworm", *_common(archive, tmp_path), "--variant", "minbase", "--include", "hello",
               "--mode", "extract", "-o", str(out), "--dockerfile")
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert "./usr/bin/busybox" in members and members["./bin"].issym()
    assert "./usr/lib/libhello.so.2" in members and "./usr/lib/libhello.so.1" not in members
    assert "./usr/share/provider" in members
    suid = members["./usr/bin/suidtool"]
    assert suid.mode & 0o4000 and suid.uid == 0 and suid.gid == 0
    assert all(m.uid == 0 for m in members.values())
    status_file = tarfile.open(out).extractfile("./var/lib/dpkg/status")
    assert status_file is not None
    status = status_file.read().decode()
    assert "Package: hello\n" in status and "Package: tiny-base\n" in status
    assert (tmp_path / "Dockerfile").read_text().startswith("FROM scratch\nADD out.tar.gz /\n")


def test_built_root_runs_in_chroot(archive, tmp_path: Path) -> None:
    if shutil.which("chroot") is None or not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid():
        pytest.skip("chroot needs root")
    root = tmp_path / "root"
    done = run("debian-bookworm", *_common(archive, tmp_path), "--variant", "minbase", "--mode", "extract",
               "-o", f"{root}/")
    assert done.returncode == 0, done.stderr
    ok = subprocess.run(["chroot", str(root), "/bin/sh", "-c", "echo ok"], capture_output=True, text=True)
    assert ok.stdout == "ok\n"


def test_stdout_stream(archive, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bootstrap", "debian-bookworm", *_common(archive, tmp_path),
                           "--variant", "custom", "--include", "provider", "--mode", "extract", "-o", "-"],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(["tar", "-t"], input=done.stdout, capture_output=True).stdout.decode()
    assert "./usr/share/provider" in listing.splitlines()


def test_resolve_and_why(archive, tmp_path: Path) -> None:
    done = run("resolve", "debian-bookworm", *_common(archive, tmp_path), "--variant", "custom",
               "--include", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["hello 1.0 amd64", "libhello 2.1 amd64", "provider 1.0 amd64", ""]
    why = run("resolve", "debian-bookworm", *_common(archive, tmp_path), "--variant", "custom",
              "--include", "hello", "--why", "provider")
    assert why.stdout.strip() == "hello → provider"


@pytest.mark.parametrize("extra, code, words", [
    (["--include", "helo"], 5, "hello"),                       # unknown package: close match suggested
    (["--include", "needs-missing"], 5, "libnothere"),          # the chain names the missing piece
    (["--include", "evil-dotdot"], 6, "outside the root"),      # ../ in data.tar
    (["--include", "evil-symlink"], 6, "evil-symlink"),         # file written through its own symlink
])
def test_user_errors_leave_nothing(archive, tmp_path: Path, extra: list[str], code: int, words: str) -> None:
    out = tmp_path / "out.tar.gz"
    done = run("debian-bookworm", *_common(archive, tmp_path), "--variant", "custom", "--mode", "extract",
               *extra, "-o", str(out))
    assert done.returncode == code, done.stderr
    assert ("Traceback" not in done.stderr and done.stderr.startswith("error: ")) or "error: " in done.stderr
    assert words in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tar.gz*"))
    assert not Path("/escaped").exists() and not Path("/tmp/escaped").exists()


def test_wrong_key_is_refused(archive, tmp_path: Path) -> None:
    url, _, other, _ = archive
    out = tmp_path / "out.tar"
    done = run("debian-bookworm", "--mirror", url, "--keyring", str(other), "--cache-dir", str(tmp_path / "c"),
               "--variant", "custom", "--include", "provider", "--mode", "extract", "-o", str(out))
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_no_verify_is_printed(archive, tmp_path: Path) -> None:
    url, _, _, _ = archive
    done = run("resolve", "debian-bookworm", "--mirror", url, "--no-verify", "--variant", "custom",
               "--include", "provider", "--cache-dir", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert "--no-verify" in done.stderr


def test_checksum_mismatch_stops_the_build(archive, tmp_path: Path) -> None:
    _url, keyring, _, work = archive
    mirror = tmp_path / "mirror"
    shutil.copytree(work / "mirror", mirror)
    deb = next((mirror / "pool" / "main").glob("provider_*.deb"))
    data = bytearray(deb.read_bytes())
    data[-1] ^= 0xFF  # the tar's zero padding ends the file: flip the byte rather than zero it
    deb.write_bytes(bytes(data))
    out = tmp_path / "out.tar.gz"
    with Server(mirror) as server:
        done = run("debian-bookworm", "--mirror", server.url, "--keyring", str(keyring), "--cache-dir",
                   str(tmp_path / "c"), "--variant", "custom", "--include", "provider", "--mode", "extract",
                   "-o", str(out))
    assert done.returncode == 3, done.stderr
    assert "provider" in done.stderr and "Traceback" not in done.stderr and not out.exists()


def test_unknown_profile_and_unreachable_mirror(tmp_path: Path) -> None:
    done = run("debian-bokworm", "-o", str(tmp_path / "x.tar"))
    assert done.returncode == 2 and "debian-bookworm" in done.stderr and "Traceback" not in done.stderr
    down = run("debian-bookworm", "--mirror", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "c"),
               "-o", str(tmp_path / "x.tar"))
    assert down.returncode == 3 and "Traceback" not in down.stderr and "hint:" in down.stderr
    assert not (tmp_path / "x.tar").exists()


def test_missing_output_directory_refused_before_any_download(tmp_path: Path) -> None:
    """The output's directory is checked first: the mirror (unreachable here) is never asked."""
    done = run("debian-bookworm", "--mirror", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "c"),
               "-o", str(tmp_path / "nowhere" / "x.tar.gz"))
    assert done.returncode == 8 and "directory" in done.stderr and "does not exist" in done.stderr
    assert "127.0.0.1:9" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "nowhere").exists()
