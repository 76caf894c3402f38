"""Eight builds at once on one download cache and one TMPDIR: real `python -m bootstrap`
processes started together (subprocess.Popen) against a signed local apt archive (eight) and
the vault-shaped yum mirror (four), with an empty cache at the start and SOURCE_DATE_EPOCH
fixed.

All must succeed and write byte-identical outputs; the cache must end with no temporary or
partial file and every entry verifying against the digest it is named by; no build root may
be left in the shared TMPDIR (each build's sweep of killed builds' roots must leave the
others' live roots alone)."""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDS = 8
EPOCH = "1700000000"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(url, keyring) of a signed archive: tiny-base (busybox) and six packages needing it."""
    if shutil.which("apt-ftparchive") is None or not BUSYBOX.exists():
        pytest.skip("needs apt-ftparchive (apt-utils) and busybox-static")
    work = tmp_path_factory.mktemp("concurrent")
    keyring = make_key(work / "gnupg")
    rng = random.Random(5)
    debs = [Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
                files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
                symlinks={"/bin/sh": "busybox"})]
    debs += [Deb(f"part{n}", fields={"Depends": "tiny-base"},
                 files={f"/usr/share/part{n}/data": rng.randbytes(200_000),
                        f"/etc/part{n}.conf": f"part {n}\n".encode()}) for n in range(6)]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    with Server(work / "mirror") as server:
        yield server.url, keyring


def run_together(argvs: Sequence[list[str]], tmpdir: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start every build before waiting for any; their results in order."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "SOURCE_DATE_EPOCH": EPOCH}
    procs = [subprocess.Popen([sys.executable, "-m", "bootstrap", *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
             for argv in argvs]
    done = []
    for proc, argv in zip(procs, argvs, strict=True):
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return done


def assert_all_good(done: Sequence[subprocess.CompletedProcess[str]], outputs: Sequence[Path],
                    cache: Path, tmpdir: Path) -> None:
    for result in done:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    digests = {hashlib.sha256(out.read_bytes()).hexdigest() for out in outputs}
    assert len(digests) == 1, "the builds' outputs differ"
    entries = [p for p in cache.rglob("*") if p.is_file()]
    for path in entries:
        assert not path.name.startswith((".part-", ".tmp-")), f"temporary file left: {path}"
    downloads = [p for p in entries if p.parent.name.startswith("by-") and p.parent.name != "by-url"]
    assert downloads
    for path in downloads:
        algo = path.parent.name.removeprefix("by-")
        assert hashlib.new(algo, path.read_bytes()).hexdigest() == path.name, f"corrupt entry {path}"
    assert sorted(p.name for p in tmpdir.iterdir()) == [], "a build root (or temporary file) was left"
    assert [p for p in outputs[0].parent.iterdir() if ".tmp-" in p.name] == []


def test_eight_apt_builds_share_one_cache(archive: tuple[str, Path], tmp_path: Path) -> None:
    url, keyring = archive
    cache, outputs = tmp_path / "cache", [tmp_path / "out" / f"rootfs{n}.tar" for n in range(BUILDS)]
    outputs[0].parent.mkdir()
    argvs = [["debian-bookworm", "--mirror", url, "--keyring", str(keyring), "--cache-dir", str(cache),
              "--variant", "custom", "--include", ",".join(f"part{n}" for n in range(6)),
              "--mode", "extract", "-o", str(out)] for out in outputs]
    done = run_together(argvs, tmp_path / "tmp")
    assert_all_good(done, outputs, cache, tmp_path / "tmp")


def test_yum_builds_share_one_cache(vault, tmp_path: Path) -> None:
    # Half as many as apt's: the same races, at half the suite's time.
    cache, outputs = tmp_path / "cache", [tmp_path / "out" / f"rootfs{n}.tar" for n in range(BUILDS // 2)]
    outputs[0].parent.mkdir()
    argvs = [["centos4.3", "--mirror", vault.url, "--keyring", str(vault.key), "--cache-dir", str(cache),
              "--variant", "custom", "--include", "hello,hello-data", "--mode", "extract", "-o", str(out)]
             for out in outputs]
    done = run_together(argvs, tmp_path / "tmp")
    assert_all_good(done, outputs, cache, tmp_path / "tmp")


def test_partial_downloads_of_killed_builds_are_swept(tmp_path: Path) -> None:
    """A killed build leaves its `.part-` file; the next one removes it, but never a download
    still running (its flock is held) nor one just made (its writer may not hold the lock yet)."""
    import fcntl
    import time

    from bootstrap.fetch.cache import sweep_parts

    where = tmp_path / "by-sha256"
    where.mkdir()
    hour_ago = time.time() - 3600
    files = {name: where / name for name in (".part-dead", ".part-live", ".part-new", "0123abcd")}
    for name, path in files.items():
        path.write_bytes(b"x")
        if name != ".part-new":
            os.utime(path, (hour_ago, hour_ago))
    live = os.open(files[".part-live"], os.O_RDONLY)
    try:
        fcntl.flock(live, fcntl.LOCK_EX)
        assert sweep_parts(where) == 1
    finally:
        os.close(live)
    assert sorted(p.name for p in where.iterdir()) == [".part-live", ".part-new", "0123abcd"]
