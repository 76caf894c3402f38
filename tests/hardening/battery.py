"""The CLI-level hostile-package batteries' common part (test_hostile_apt/yum/apk.py).

A canary directory outside the build root holds files named like what the tools touch (rpm's
__db.* and .rpm.lock, yum and dnf logs, apk's installed/world/lock, a staged .rpm), with an
owner, a mode, an old mtime and an extended attribute. Every build of the battery runs
`python -m bootstrap ...` (two at a time), and after each one the canary must be what it was:
mode, owner, mtime, content or link target, and xattrs. Each build either succeeds or ends as
users see failures: exactly one `error:` line, no traceback, no `internal error`, and then no
output file. A `--hook-customize` records every device node found on the root's disk: there
must be none (they live in the manifest and the tar only). The canary holds a secret line that
must never show up in an output tar (a read through a package's link would carry it).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SECRET = "host secret 7f3c9e: never in an image\n"
# Names the tools read, write or delete in their own directories.
CANARY_FILES = ("keep.txt", "__db.001", ".rpm.lock", "yum.log", "dnf.log", "dnf.rpm.log", "installed",
                "world", "lock", "arch", "repositories", "status", "sources.list", "passwd", "group",
                "rootfs-bootstrap-rpms/staged.rpm", "info/hello.list", "sub/deep/file")
PROJECT = Path(__file__).resolve().parents[2]
Snapshot = dict[str, tuple[int, int, int, int, str, tuple[tuple[str, bytes], ...]]]


def reach_script(canary: Path) -> str:
    """A maintainer script that tries the host's canary through every /proc/*/root and its
    absolute path, after making that path in its own view: what it reaches shows in the image."""
    return (f"#!/bin/sh\nmkdir -p {canary}\nfor p in /proc/[0-9]*/root{canary}; do\n"
            f"  echo pwned > \"$p/pwned\" 2>/dev/null; echo pwned > \"$p/keep.txt\" 2>/dev/null\ndone\n"
            f"echo pwned > {canary}/pwned-direct 2>/dev/null\nrm -f {canary}/keep.txt 2>/dev/null\nexit 0\n")


@contextmanager
def canary_dir() -> Iterator[Path]:
    """A fresh canary (make_canary) under /var/lib, removed afterwards. Not under /tmp: inside
    the root, a link at tmp to /tmp/... would only loop back to itself, never reach a write."""
    base = Path(tempfile.mkdtemp(prefix="rootfs-bootstrap-canary.", dir="/var/lib"))
    try:
        yield make_canary(base)
    finally:
        shutil.rmtree(base)


def make_canary(base: Path) -> Path:
    """The host directory the hostile packages aim at, with files, owners, xattrs, old times."""
    canary = base / "canary"
    for name in CANARY_FILES:
        path = canary / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SECRET if name == "keep.txt" else f"host's own {name}\n")
    os.chmod(canary / "keep.txt", 0o640)
    os.chown(canary / "passwd", 4242, 4243)
    os.setxattr(canary / "keep.txt", "user.canary", b"keep")
    (canary / "link").symlink_to("keep.txt")
    for path in sorted(canary.rglob("*"), reverse=True) + [canary]:
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    return canary


def snapshot(top: Path) -> Snapshot:
    """Every entry at or below `top`: mode, owner, group, mtime, content digest or link
    target, and extended attributes with their values."""
    found: Snapshot = {}
    for path in sorted([top, *top.rglob("*")]):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = ""
        names = sorted(os.listxattr(path, follow_symlinks=False))
        xattrs = tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in names)
        found[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, what, xattrs)
    return found


@dataclass(frozen=True)
class Outcome:
    """One build of the battery: the case, its exit code, stderr, its output tar, and the
    device nodes the hook found on disk."""

    case: str
    returncode: int
    stderr: str
    output: Path
    devices: list[str]

    @property
    def error(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.startswith("error:")]
        return lines[0] if lines else ""

    def members(self) -> dict[str, tarfile.TarInfo]:
        """The output tar's entries by root-relative name."""
        with tarfile.open(self.output) as tar:
            return {m.name.removeprefix("./"): m for m in tar.getmembers()}

    def read(self, name: str) -> bytes:
        with tarfile.open(self.output) as tar:
            member = tar.extractfile(f"./{name}")
            assert member is not None, name
            return member.read()


def build(argv: Sequence[str], case: str, work: Path) -> Outcome:
    """`python -m bootstrap ARGV -o WORK/out.tar` (cache in WORK), with the device hook."""
    work.mkdir(parents=True, exist_ok=True)
    devices = work / "devices.txt"
    hook = f'find "$1" -xdev \\( -type b -o -type c \\) > {devices}'
    out = work / "out.tar"
    # Bytecode cached beside the builds (never in the source tree): each build starts faster.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
    done = subprocess.run([sys.executable, "-m", "bootstrap", *argv, "--cache-dir", str(work / "cache"),
                           "--hook-customize", hook, "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=PROJECT, env=env)
    found = devices.read_text().split() if devices.exists() else []
    return Outcome(case, done.returncode, done.stderr, out, found)


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with one build: it must have built, or failed with exactly one `error:`
    line, no traceback and no output; no device node on disk; no host secret in the image."""
    text, case = outcome.stderr, outcome.case
    found = []
    if "Traceback" in text or "internal error" in text:
        found.append(f"{case}: {text}")
    if outcome.devices:
        found.append(f"{case}: device nodes on disk: {outcome.devices}")
    if outcome.returncode == 0:
        if SECRET.encode() in outcome.output.read_bytes():
            found.append(f"{case}: the host's secret is in the image")
        return found
    if len([line for line in text.splitlines() if line.startswith("error:")]) != 1:
        found.append(f"{case}: not one error line: {text}")
    if outcome.output.exists():
        found.append(f"{case}: a failed build left {outcome.output}")
    return found


def battery(cases: Sequence[str], argv: Callable[[str], list[str]], work: Path, canary: Path,
            before: Snapshot) -> dict[str, Outcome]:
    """Build every case (two at a time), each judged by `problems` and followed by a canary
    comparison; returns the outcomes by case, or fails listing every problem found."""
    outcomes: dict[str, Outcome] = {}
    found: list[str] = []

    def one(case: str) -> Outcome:
        return build(argv(case), case, work / case)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for outcome in pool.map(one, cases):
            outcomes[outcome.case] = outcome
            found += problems(outcome)
            if snapshot(canary) != before:  # this build or the one running beside it
                found.append(f"{outcome.case}: the canary changed")
                break
    # What each case did, for whoever reads the run afterwards (docs/RELIABILITY.md's figures).
    (work / "outcomes.txt").write_text("".join(f"{o.case}\t{o.returncode}\t{o.error}\n"
                                               for o in outcomes.values()))
    assert not found, "\n".join(found)
    return outcomes
