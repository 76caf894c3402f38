#!/usr/bin/env python3
"""`make bench`: rootfs-bootstrap against mmdebstrap and debootstrap on one local mirror.

1. Resolve debian-bookworm minbase against the host's Debian mirror, download exactly those
   .debs with apt-get, and make of them a signed one-suite archive served on 127.0.0.1.
2. Time, alternating the tools within each round (so drifts in the machine hit all alike):
   rootfs-bootstrap (root mode, .tar, cold cache), mmdebstrap (root mode, .tar),
   debootstrap (directory), rootfs-bootstrap --mode extract, and `dpkg-deb -x` of the same
   packages (the floor for extract mode).
3. Write the medians, the machine and the date to RESULTS.md.

Every run of every tool gets a filesystem of its own, made just before it (untimed): its
TMPDIR, its build root, its output and our cache are there. Why: ext4 without a journal (the
root filesystem of the machine this was first measured on) does not reuse an inode freed in
the last 60 s, or 300 s once its inode-table block is dirty again, and scans past every such
inode on each file creation (fs/ext4/ialloc.c, recently_deleted(); `perf` put a third of a
run's CPU there). On a shared directory, whoever runs after another tool deleted its tree
pays for that deletion: our unpack went from 1.5 s to 5 s between rounds. A fresh filesystem
per run gives every tool the same start. `--fs` chooses which: ext4 as Debian's mkfs.ext4
makes it (journal), ext4 without a journal (like that machine's root), tmpfs, or `tmpdir`
(one shared directory under --tmpdir, the old way, order effects included).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.apt.aptrepo import build_repo, make_key  # noqa: E402  (shared test plumbing)
from tests.server import Server  # noqa: E402


def sh(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, text=True, capture_output=True, **kw)


def make_mirror(work: Path) -> tuple[Path, Path, list[Path]]:
    """A signed bookworm subset holding exactly the minbase set; returns (mirror, keyring, debs)."""
    listing = sh(sys.executable, "-m", "bootstrap", "resolve", "debian-bookworm", "--variant", "minbase", "-q").stdout
    wanted = [line.split()[:2] for line in listing.splitlines() if line.strip()]
    debs_dir = work / "debs"
    debs_dir.mkdir()
    sh("apt-get", "download", *[f"{name}={version}" for name, version in wanted], cwd=debs_dir)
    for deb in debs_dir.glob("*%3a*.deb"):
        # apt-get download keeps the epoch, URL-escaped (`1%3a3.0.9`); a Debian pool never
        # has it in the name: drop it, as the archive does.
        name, version, arch = deb.name.split("_")
        deb.rename(deb.with_name(f"{name}_{version.split('%3a', 1)[1]}_{arch}"))
    debs = sorted(debs_dir.glob("*.deb"))
    exported = make_key(work / "gnupg", "Bench Archive")
    build_repo(work / "mirror", debs, work / "gnupg")
    # apt verifies as the _apt user: the keyring must be readable outside gpg's 0700 home.
    os.chmod(work, 0o755)
    keyring = work / "keyring.gpg"
    shutil.copyfile(exported, keyring)
    os.chmod(keyring, 0o644)
    return work / "mirror", keyring, debs


FS_KINDS = {"ext4": "ext4 made by mkfs.ext4 with Debian's defaults (journal)",
            "ext4-nojournal": "ext4 without a journal (mkfs.ext4 -O ^has_journal)",
            "tmpfs": "tmpfs", "tmpdir": "one directory shared by every run"}


@contextmanager
def fresh_fs(work: Path, kind: str) -> Iterator[Path]:
    """An empty filesystem of `kind` for one run, mounted under `work`; gone afterwards."""
    place = Path(tempfile.mkdtemp(dir=work, prefix=f"fs-{kind}."))
    image = place.with_suffix(".img")
    try:
        if kind.startswith("ext4"):
            with open(image, "wb") as sparse:
                sparse.truncate(4 << 30)
            features = ["-O", "^has_journal"] if kind == "ext4-nojournal" else []
            # Inode tables and journal zeroed now, not by the kernel's ext4lazyinit thread in
            # the background of the run being timed.
            sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", *features, str(image))
            sh("mount", "-o", "loop", str(image), str(place))
        elif kind == "tmpfs":
            sh("mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", str(place))
        yield place
    finally:
        if os.path.ismount(place):
            sh("umount", str(place))
        shutil.rmtree(place, ignore_errors=True)
        image.unlink(missing_ok=True)
        os.sync()
        time.sleep(2)  # let writeback of what was unmounted end before the next run starts


def timed(argv: list[str], place: Path) -> float:
    """Wall time of `argv` with TMPDIR in `place`; exits the bench if it fails."""
    start = time.monotonic()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "TMPDIR": str(place)})
    if done.returncode != 0:
        sys.exit(f"bench: {argv[0]} {' '.join(argv[1:4])}... failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return time.monotonic() - start


def contenders(url: str, keyring: Path, debs: list[Path]) -> dict[str, Callable[[Path], float]]:
    """Each contender runs once in the fresh directory it is given and returns its wall time."""
    tool = [sys.executable, "-m", "bootstrap", "debian-bookworm", "--variant", "minbase", "--mirror", url,
            "--keyring", str(keyring), "-q"]

    def ours(mode: str) -> Callable[[Path], float]:
        def run(place: Path) -> float:
            cache = place / "cache"  # empty: it downloads like the others
            return timed(tool + ["--mode", mode, "--cache-dir", str(cache), "-o", str(place / "ours.tar")], place)
        return run

    def mmdebstrap(place: Path) -> float:
        # The merged-usr hook: mmdebstrap 1.3 leaves /usr unmerged otherwise, and the subset
        # mirror offers usr-is-merged (not usrmerge), whose preinst refuses an unmerged root.
        return timed(["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", f"--keyring={keyring}",
                      "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                      "bookworm", str(place / "mmdebstrap.tar"), url], place)

    def debootstrap(place: Path) -> float:
        return timed(["debootstrap", "--variant=minbase", f"--keyring={keyring}", "bookworm",
                      str(place / "root"), url], place)

    def dpkg_deb_x(place: Path) -> float:
        target = place / "root"
        target.mkdir()
        start = time.monotonic()
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        return time.monotonic() - start

    return {"rootfs-bootstrap (root mode)": ours("root"), "mmdebstrap (root mode)": mmdebstrap,
            "debootstrap": debootstrap, "rootfs-bootstrap --mode extract": ours("extract"),
            "dpkg-deb -x of the same packages": dpkg_deb_x}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({model}), {mem} GiB, {platform.platform()}"


def section(kind: str, times: dict[str, list[float]]) -> list[str]:
    """The table and the two target ratios for the runs on one kind of filesystem."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    ours, mm = medians["rootfs-bootstrap (root mode)"], medians["mmdebstrap (root mode)"]
    ext, floor = medians["rootfs-bootstrap --mode extract"], medians["dpkg-deb -x of the same packages"]
    per_round = " ".join(f"{o / m:.2f}" for o, m in zip(times["rootfs-bootstrap (root mode)"],
                                                        times["mmdebstrap (root mode)"], strict=True))
    return [
        f"## Each run on a fresh {FS_KINDS[kind]}" if kind != "tmpdir" else
        "## Every run in one shared directory of the host's filesystem (each pays for the tree "
        "the run before it deleted)", "",
        "| build | median wall time (s) | best (s) | every round (s) |", "| --- | ---: | ---: | --- |",
        *[f"| {name} | {medians[name]:.1f} | {min(values):.1f} | {' '.join(f'{v:.1f}' for v in values)} |"
          for name, values in times.items()], "",
        f"- configured minbase: rootfs-bootstrap / mmdebstrap = **{ours / mm:.2f}** (target ≤ 0.5); "
        f"per round: {per_round}",
        f"- extract mode / dpkg-deb -x = **{ext / floor:.2f}** (target ≤ 1.5)", "",
    ]


def write_results(path: Path, results: dict[str, dict[str, list[float]]], rounds: int, npkgs: int,
                  tmpdir: str) -> None:
    lines = [
        "# Benchmarks", "",
        f"debian-bookworm minbase ({npkgs} packages) from a local mirror on 127.0.0.1 (`make bench`, "
        f"benchmarks/run.py); median of {rounds} rounds, tools alternated within each round.", "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Mirror under {tmpdir}; each run's TMPDIR, build root, output (and our cache, empty at "
        "the start, so we download like the others) on a filesystem made for that run alone "
        "(why: benchmarks/run.py's docstring).",
        "- Targets: a configured minbase (root mode) in at most half of mmdebstrap's wall time; "
        "extract mode within 1.5x of `dpkg-deb -x` of the same packages. The shared-directory "
        "section, where present, shows the order effect the fresh filesystems remove.", "",
    ]
    for kind, times in results.items():
        lines += section(kind, times)
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"),
                        help="where the mirror (and the filesystem images) are made")
    parser.add_argument("--fs", action="append", choices=sorted(FS_KINDS),
                        help="filesystem each run gets (repeatable; default: ext4, then ext4-nojournal)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (mmdebstrap and debootstrap in root mode, mounts)")
    kinds = args.fs or ["ext4", "ext4-nojournal"]
    with tempfile.TemporaryDirectory(prefix="rootfs-bench.", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        mirror, keyring, debs = make_mirror(work)
        results: dict[str, dict[str, list[float]]] = {}
        with Server(mirror) as server:
            runs = contenders(server.url, keyring, debs)
            for kind in kinds:
                times = results[kind] = {name: [] for name in runs}
                for round_no in range(args.rounds):
                    for name, run in runs.items():
                        with fresh_fs(work, kind) as place:
                            times[name].append(run(place))
                        print(f"{kind} round {round_no + 1}: {name}: {times[name][-1]:.1f}s", flush=True)
    write_results(args.results, results, args.rounds, len(debs), args.tmpdir)
    print(args.results.read_text())


if __name__ == "__main__":
    main()
