#!/usr/bin/env python3
"""`make bench` on real-size indexes: wall time and the largest process's peak RSS.

Mirrors (benchmarks/mirrors.py), served on 127.0.0.1 by tests/server.py: the bench's minbase
.debs under the host's full bookworm main index (63,440 stanzas), a generated 60,000-package yum
repository in createrepo_c's layout, Alpine 3.16's real 4,929-package APKINDEX.

1. Build (`--only build`; needs root): rootfs-bootstrap configured minbase (root mode) →
   .tar.gz against mmdebstrap minbase (root mode) → .tar.gz, on the full index; tools
   alternated within each round; every run on a fresh filesystem (benchmarks/run.py's
   fresh_fs, `--fs`) with its TMPDIR, output and an empty cache there, so the package cache and
   the parsed-index cache are both cold.
2. Resolve (`--only resolve`): `rootfs-bootstrap resolve` per family. A first run fills a cache
   directory (untimed). Each round then copies only its download entries (by-*/, what
   bootstrap.fetch.verify.cache_path names) into a fresh cache: the indexes need no download,
   whatever else a run leaves (the parsed-index cache, freshness records; listed in the
   report) is absent — the *cold* run. The *warm* run is a second run on that same cache.
   XDG_CACHE_HOME points into the run's directory too, so no cache outside --cache-dir survives.

Every run is a fresh process tree measured by benchmarks/measure.py: wall time, and
getrusage(RUSAGE_CHILDREN).ru_maxrss of a subreaper wrapper — the peak RSS of the largest
single process (the tool, apt, dpkg, xz, gzip...), not a sum. Figures are medians of --rounds.
`--results FILE` puts the sections in FILE (replaced if present, else appended).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from measure import Sample, measure
from mirrors import Mirrors, make_mirrors
from run import FS_KINDS, REPO, fresh_fs, machine

from tests.server import Server

BUILD = "## Full bookworm index: configured minbase → .tar.gz"
RESOLVE = "## Resolve alone on real-size indexes"
TOOL = [sys.executable, "-m", "bootstrap"]
APK_REQUEST = ("bash,curl,git,openssh,openssl,python3,perl,make,gcc,musl-dev,linux-headers,ca-certificates,"
               "tzdata,coreutils,findutils,grep,sed,gawk,tar,xz,zstd,less,vim,htop,iproute2,bind-tools,"
               "util-linux,e2fsprogs,rsync,jq,sqlite,wget,openrc,chrony,nginx,py3-requests,lua5.4,strace,"
               "tcpdump,nftables")
Argv = list[str]


def _env(place: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(place), "XDG_CACHE_HOME": str(place / "xdg-cache")}


def _check(sample: Sample, argv: Argv) -> Sample:
    if sample.returncode != 0:
        sys.exit(f"bench: {' '.join(argv[:6])}... failed (exit {sample.returncode}):\n{sample.stderr[-2000:]}")
    return sample


def build_contenders(url: str, keyring: Path) -> dict[str, Callable[[Path], Argv]]:
    """Each contender's command line for a run in the fresh directory `place`."""
    def ours(place: Path) -> Argv:
        return TOOL + ["debian-bookworm", "--variant", "minbase", "--mirror", url, "--keyring", str(keyring),
                       "-q", "--mode", "root", "--cache-dir", str(place / "cache"), "-o", str(place / "ours.tar.gz")]

    def mmdebstrap(place: Path) -> Argv:
        # The merged-usr hook, as benchmarks/run.py gives it (mmdebstrap 1.3 leaves /usr unmerged).
        return ["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", f"--keyring={keyring}",
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr", "bookworm", str(place / "mmdebstrap.tar.gz"), url]

    return {"rootfs-bootstrap (root mode)": ours, "mmdebstrap (root mode)": mmdebstrap}


def run_builds(work: Path, url: str, keyring: Path, rounds: int, kind: str) -> dict[str, list[Sample]]:
    runs = build_contenders(url, keyring)
    samples: dict[str, list[Sample]] = {name: [] for name in runs}
    for round_no in range(rounds):
        for name, argv_of in runs.items():
            with fresh_fs(work, kind) as place:
                argv = argv_of(place)
                samples[name].append(_check(measure(argv, env=_env(place)), argv))
                made = [p.stat().st_size for p in place.glob("*.tar.gz")]
                if not made or made[0] < 1 << 20:
                    sys.exit(f"bench: {name} exited 0 but left no root filesystem tarball in {place}")
            last = samples[name][-1]
            print(f"full index round {round_no + 1}: {name}: {last.wall:.1f}s, {last.rss_mib:.0f} MiB", flush=True)
    return samples


def resolve_cases(m: Mirrors, url: str) -> list[tuple[str, str, Argv]]:
    """(family, index and request, command without --cache-dir) for each mirror that was built."""
    cases = []
    if m.full and m.apt_keyring:
        cases.append(("apt", f"full bookworm main ({m.full.stanzas:,} packages): minbase",
                      TOOL + ["resolve", "debian-bookworm", "--variant", "minbase", "--mirror", f"{url}/debian",
                              "--keyring", str(m.apt_keyring), "-q"]))
    if m.yum:
        cases.append(("yum", f"generated Fedora 40 Everything ({m.yum.packages:,} packages): @core "
                      f"({m.yum.core} in the group)",
                      TOOL + ["resolve", "fedora40", "--variant", "custom", "--include", "@core", "--mirror", url,
                              "--keyring", str(m.yum.public_key), "-q"]))
    if m.apk_keys:
        keys = [arg for key in m.apk_keys for arg in ("--keyring", str(key))]
        cases.append(("apk", f"Alpine 3.16 main ({m.apk_packages:,} packages): alpine-base + "
                      f"{APK_REQUEST.count(',') + 1} packages",
                      TOOL + ["resolve", "alpine3.16", "--variant", "index", "--arch", "x86_64", "--include",
                              APK_REQUEST, "--mirror", f"{url}/alpine", *keys, "-q"]))
    return cases


def _downloads_only(filled: Path, cache: Path) -> list[str]:
    """Copy the download entries (by-*/) of `filled` into the new `cache`; returns what was left out."""
    cache.mkdir()
    left = []
    for entry in sorted(filled.iterdir()):
        if entry.is_dir() and entry.name.startswith("by-"):
            shutil.copytree(entry, cache / entry.name)
        else:
            left.append(entry.name + ("/" if entry.is_dir() else ""))
    return left


@dataclass
class ResolveRow:
    """One resolve case: its command, packages chosen, cold and warm Samples, what cold lacked."""

    family: str
    label: str
    argv: Argv
    chosen: int
    cold: list[Sample] = field(default_factory=list)
    warm: list[Sample] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)


def run_resolves(work: Path, cases: list[tuple[str, str, Argv]], rounds: int) -> list[ResolveRow]:
    """A filling run per case, then per round (cases alternated) a cold and a warm run."""
    rows = []
    for index, (family, label, argv) in enumerate(cases):
        place = work / f"resolve-{index}"
        place.mkdir()
        first = _check(measure(argv + ["--cache-dir", str(place / "filled")], env=_env(place), keep_stdout=True), argv)
        rows.append(ResolveRow(family, label, argv, len([x for x in first.stdout.splitlines() if x.strip()])))
    for round_no in range(rounds):
        for index, row in enumerate(rows):
            place = work / f"resolve-{index}"
            cache = place / f"cache-{round_no}"
            row.dropped.update(_downloads_only(place / "filled", cache))
            argv = row.argv + ["--cache-dir", str(cache)]
            row.cold.append(_check(measure(argv, env=_env(place)), argv))
            row.warm.append(_check(measure(argv, env=_env(place)), argv))
            print(f"resolve round {round_no + 1}: {row.family}: cold {row.cold[-1].wall:.2f}s "
                  f"{row.cold[-1].rss_mib:.0f} MiB, warm {row.warm[-1].wall:.2f}s {row.warm[-1].rss_mib:.0f} MiB",
                  flush=True)
            shutil.rmtree(cache)
    return rows


def _median(samples: list[Sample], what: str) -> float:
    return statistics.median(getattr(s, what) for s in samples)


def _header(text: str) -> list[str]:
    return [text, "", f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", f"- Machine: {machine()}"]


def _shell(argv: Argv, work: Path) -> str:
    """`argv` as a reader would type it: the tool by its name, the port and temporary paths elided."""
    words = ["rootfs-bootstrap", *argv[len(TOOL):]] if argv[:len(TOOL)] == TOOL else argv
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", " ".join(words))
    return text.replace(str(REPO) + "/", "").replace(str(work), "$WORK")


def build_section(samples: dict[str, list[Sample]], m: Mirrors, kind: str, url: str, work: Path) -> str:
    ours, mm = samples["rootfs-bootstrap (root mode)"], samples["mmdebstrap (root mode)"]
    assert m.full is not None and m.apt_keyring is not None
    ratio = _median(ours, "wall") / _median(mm, "wall")
    per_round = " ".join(f"{o.wall / b.wall:.2f}" for o, b in zip(ours, mm, strict=True))
    lines = _header(BUILD) + [
        f"- The {len(m.debs)} minbase .debs of the subset mirror, under the host's whole bookworm main index "
        f"({m.full.stanzas:,} stanzas, from its apt list; {m.full.replaced} replaced by those of the served "
        ".debs, the rest pointing at files never fetched), Packages.gz + Packages.xz, plain Packages listed in the "
        "Release but not served, InRelease signed by the bench key; `benchmarks/realsize.py --only build`.",
        f"- Median of {len(ours)} rounds, tools alternated within each round; each run on a fresh {FS_KINDS[kind]} "
        "with its TMPDIR, output and an empty --cache-dir (package and parsed-index caches cold).",
        "- RSS: the largest single process of the run's tree (benchmarks/measure.py: getrusage(RUSAGE_CHILDREN) "
        "of a subreaper wrapper), median over the rounds.",
        "- Targets: rootfs-bootstrap ≤ 0.5× mmdebstrap's wall time; largest process ≤ 150 MiB.", "",
        "| build | median wall (s) | every round (s) | largest process RSS (MiB) | every round (MiB) |",
        "| --- | ---: | --- | ---: | --- |",
        *[f"| {name} | {_median(s, 'wall'):.1f} | {' '.join(f'{x.wall:.1f}' for x in s)} | "
          f"{_median(s, 'rss_mib'):.0f} | {' '.join(f'{x.rss_mib:.0f}' for x in s)} |" for name, s in samples.items()],
        "", f"- rootfs-bootstrap / mmdebstrap = **{ratio:.2f}** (target ≤ 0.5); per round: {per_round}",
        f"- rootfs-bootstrap's largest process: **{_median(ours, 'rss_mib'):.0f} MiB** (target ≤ 150 MiB); "
        f"mmdebstrap's: {_median(mm, 'rss_mib'):.0f} MiB",
        "- Commands ($RUN: the run's fresh filesystem): "
        + " and ".join(f"`{_shell(argv_of(Path('$RUN')), work)}`"
                       for argv_of in build_contenders(url, m.apt_keyring).values()), ""]
    return "\n".join(lines)


TARGETS = {"apt": "≤ 1.5 s cold, ≤ 0.4 s warm, ≤ 150 MiB", "yum": "≤ 2 s cold, ≤ 0.4 s warm", "apk": "—"}


def resolve_section(rows: list[ResolveRow], rounds: int, work: Path) -> str:
    dropped = sorted(set().union(*[r.dropped for r in rows]))
    lines = _header(RESOLVE) + [
        f"- `benchmarks/realsize.py --only resolve`: `rootfs-bootstrap resolve` against mirrors on 127.0.0.1; "
        f"median of {rounds} runs, each a fresh process; RSS = the largest single process (benchmarks/measure.py).",
        "- cold: a fresh --cache-dir holding only the download entries (by-*/) of a first run, so nothing is "
        f"downloaded but no parsed index is reused (left out: {', '.join(dropped) or 'nothing else was there'}); "
        "warm: a second run on that same cache.", "",
        "| family | index: request | packages chosen | cold (s) | warm (s) | cold RSS (MiB) | warm RSS (MiB) "
        "| target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.family} | {r.label} | {r.chosen} | {_median(r.cold, 'wall'):.2f} | "
                     f"{_median(r.warm, 'wall'):.2f} | {_median(r.cold, 'rss_mib'):.0f} | "
                     f"{_median(r.warm, 'rss_mib'):.0f} | {TARGETS[r.family]} |")
    lines += ["", "Commands (each with `--cache-dir DIR`; $WORK is the bench's temporary directory):", ""]
    lines += [f"- {r.family}: `{_shell(r.argv, work)}`" for r in rows]
    return "\n".join(lines + [""])


def put_section(path: Path, heading: str, section: str) -> None:
    """Replace the section of `path` that starts with `heading`, or append it."""
    text = path.read_text() if path.exists() else ""
    start = text.find(heading + "\n")
    if start < 0:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round (same as --rounds 1)")
    parser.add_argument("--only", choices=("build", "resolve"), help="one part only (default: both)")
    parser.add_argument("--fs", default="ext4", choices=sorted(FS_KINDS), help="filesystem of each build run")
    parser.add_argument("--yum-packages", type=int, default=60_000)
    parser.add_argument("--results", type=Path, help="write the sections (markdown) to this file")
    parser.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    build, resolve = args.only in (None, "build"), args.only in (None, "resolve")
    if build and os.geteuid() != 0:
        sys.exit("bench: the build part needs root (mmdebstrap in root mode, mounts); try --only resolve")
    with tempfile.TemporaryDirectory(prefix="rootfs-bench-real.", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        mirrors = make_mirrors(work, {"apt", "yum", "apk"} if resolve else {"apt"}, args.yum_packages)
        with Server(mirrors.www) as server:
            sections = []
            if build:
                assert mirrors.apt_keyring is not None
                samples = run_builds(work, f"{server.url}/debian", mirrors.apt_keyring, rounds, args.fs)
                sections.append((BUILD, build_section(samples, mirrors, args.fs, f"{server.url}/debian", work)))
            if resolve:
                rows = run_resolves(work, resolve_cases(mirrors, server.url), rounds)
                sections.append((RESOLVE, resolve_section(rows, rounds, work)))
    for heading, text in sections:
        print(text)
        if args.results:
            put_section(args.results, heading, text)


if __name__ == "__main__":
    main()
