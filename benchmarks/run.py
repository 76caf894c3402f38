#!/usr/bin/env python3
"""`make bench`: rootfs-bootstrap against mmdebstrap and debootstrap on one local mirror.

1. Resolve debian-bookworm minbase against the host's Debian mirror, download exactly those
   .debs with apt-get, and make of them a signed one-suite archive served on 127.0.0.1.
2. Time, alternating the tools within each round (so drifts in the machine hit all alike):
   rootfs-bootstrap (root mode, .tar, cold cache), mmdebstrap (root mode, .tar),
   debootstrap (directory), rootfs-bootstrap --mode extract, and `dpkg-deb -x` of the same
   packages (the floor for extract mode).
3. Write the medians, the machine and the date to RESULTS.md.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.aptrepo import Server, build_repo, make_key  # noqa: E402  (shared test plumbing)


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


def timed(argv: list[str], cleanup: Path | None = None) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: {argv[0]} {' '.join(argv[1:4])}... failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    elapsed = time.monotonic() - start
    if cleanup is not None:
        shutil.rmtree(cleanup, ignore_errors=True) if cleanup.is_dir() else cleanup.unlink(missing_ok=True)
    settle()
    return elapsed


def settle() -> None:
    """Flush what the last contender wrote and deleted before the next one starts (untimed):
    otherwise its writeback and the discards of what it deleted (this disk is mounted with
    `discard`) land on the next tool: file creation was seen 15x slower right after a delete."""
    os.sync()
    time.sleep(5)


def contenders(url: str, keyring: Path, debs: list[Path], work: Path) -> dict[str, callable]:
    tool = [sys.executable, "-m", "bootstrap", "debian-bookworm", "--variant", "minbase", "--mirror", url,
            "--keyring", str(keyring), "-q"]

    def ours(mode: str):
        def run() -> float:
            cache = Path(tempfile.mkdtemp(dir=work))
            out = work / f"ours-{mode}.tar"
            took = timed(tool + ["--mode", mode, "--cache-dir", str(cache), "-o", str(out)], out)
            shutil.rmtree(cache)
            os.sync()
            return took
        return run

    def mmdebstrap() -> float:
        out = work / "mmdebstrap.tar"
        # The merged-usr hook: mmdebstrap 1.3 leaves /usr unmerged otherwise, and the subset
        # mirror offers usr-is-merged (not usrmerge), whose preinst refuses an unmerged root.
        return timed(["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", f"--keyring={keyring}",
                      "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                      "bookworm", str(out), url], out)

    def debootstrap() -> float:
        target = work / "debootstrap-root"
        return timed(["debootstrap", "--variant=minbase", f"--keyring={keyring}", "bookworm", str(target), url],
                     target)

    def dpkg_deb_x() -> float:
        target = work / "dpkg-deb-x"
        target.mkdir()
        start = time.monotonic()
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        took = time.monotonic() - start
        shutil.rmtree(target)
        settle()
        return took

    return {"rootfs-bootstrap (root mode)": ours("root"), "mmdebstrap (root mode)": mmdebstrap,
            "debootstrap": debootstrap, "rootfs-bootstrap --mode extract": ours("extract"),
            "dpkg-deb -x of the same packages": dpkg_deb_x}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({model}), {mem} GiB, {platform.platform()}"


def write_results(path: Path, times: dict[str, list[float]], rounds: int, npkgs: int, tmpdir: str) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    ours, mm = medians["rootfs-bootstrap (root mode)"], medians["mmdebstrap (root mode)"]
    ext, floor = medians["rootfs-bootstrap --mode extract"], medians["dpkg-deb -x of the same packages"]
    lines = [
        "# Benchmarks", "",
        f"debian-bookworm minbase ({npkgs} packages) from a local mirror on 127.0.0.1; "
        f"median of {rounds} rounds, tools alternated within each round.", "",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Mirror, caches and every tool's build root under: {tmpdir} (TMPDIR)", "",
        "| build | median wall time (s) | best (s) | every round (s) |", "| --- | ---: | ---: | --- |",
        *[f"| {name} | {medians[name]:.1f} | {min(values):.1f} | {' '.join(f'{v:.1f}' for v in values)} |"
          for name, values in times.items()], "",
        f"- configured minbase: rootfs-bootstrap / mmdebstrap = {ours / mm:.2f} (target ≤ 0.5); "
        f"per round: {' '.join(f'{o / m:.2f}' for o, m in zip(times['rootfs-bootstrap (root mode)'], times['mmdebstrap (root mode)']))}",
        f"- extract mode / dpkg-deb -x = {ext / floor:.2f} (target ≤ 1.5)", "",
        "rootfs-bootstrap runs with an empty cache each time, so it downloads like the others.", "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"),
                        help="where the mirror and every contender's root are made")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (mmdebstrap and debootstrap in root mode)")
    with tempfile.TemporaryDirectory(prefix="rootfs-bench.", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        # Every contender builds its root under TMPDIR (mmdebstrap's tempdir, ours): one place for all.
        os.environ["TMPDIR"] = str(work)
        mirror, keyring, debs = make_mirror(work)
        with Server(mirror) as server:
            runs = contenders(server.url, keyring, debs, work)
            times: dict[str, list[float]] = {name: [] for name in runs}
            for round_no in range(args.rounds):
                for name, run in runs.items():
                    times[name].append(run())
                    print(f"round {round_no + 1}: {name}: {times[name][-1]:.1f}s", flush=True)
    write_results(args.results, times, args.rounds, len(debs), args.tmpdir)
    print(args.results.read_text())


if __name__ == "__main__":
    main()
