#!/usr/bin/env python3
"""`make bench`: `rootfs-bootstrap refresh` with nothing changed, warm cache, on the real-size
mirrors of benchmarks/mirrors.py (full bookworm main, the 60,000-package yum repository,
Alpine 3.16's real APKINDEX), served on 127.0.0.1.

Per family: `lock` once (untimed; it fills the cache), then per round
1. *unchanged*: `refresh LOCK -o OUT` while every repository serves the index the lock
   recorded: the signed top files alone answer (exit 0, nothing built);
2. *index moved*: the same with the lock's index digests altered, so refresh resolves the
   whole profile again (warm parsed-index cache) and finds the same packages (exit 0).
The issue's target is under two seconds for (1). Figures are medians of --rounds, wall time
and the largest process's peak RSS (benchmarks/measure.py). `--results FILE` puts the section
in FILE.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
from pathlib import Path

from measure import Sample, measure
from mirrors import make_mirrors
from realsize import TOOL, _env, put_section, resolve_cases
from run import machine

from tests.server import Server

HEADING = "## refresh with nothing changed (warm cache, real-size indexes)"


def _run(argv: list[str], place: Path) -> Sample:
    sample = measure(argv, env=_env(place))
    if sample.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {sample.returncode}:\n{sample.stderr}")
    return sample


def _moved(lock: Path, into: Path) -> Path:
    """A copy of `lock` whose index digests no repository serves: refresh must resolve."""
    doc = lock.read_text().splitlines()
    into.write_text("\n".join(line.replace('"sha256": "', '"sha256": "0') if '"index"' in line else line
                              for line in doc) + "\n")
    return into


def bench_family(family: str, argv: list[str], work: Path, rounds: int) -> tuple[list[Sample], list[Sample]]:
    place = work / f"refresh-{family}"
    place.mkdir()
    lock, cache = place / "image.lock", place / "cache"
    argv = [a for a in argv if a != "-q"]
    _run(TOOL + ["lock"] + argv[len(TOOL) + 1:] + ["--cache-dir", str(cache), "-q", "-o", str(lock)], place)
    json.loads(lock.read_text())  # written whole
    unchanged, moved = [], []
    for n in range(rounds):
        out = place / f"out-{n}.tar.gz"
        common = ["--cache-dir", str(cache), "-q", "-o", str(out)]
        unchanged.append(_run(TOOL + ["refresh", str(lock), *common], place))
        moved.append(_run(TOOL + ["refresh", str(_moved(lock, place / f"moved-{n}.lock")), *common], place))
        assert not out.exists(), "refresh with nothing changed built an image"
        print(f"refresh round {n + 1}: {family}: unchanged {unchanged[-1].wall:.2f}s, "
              f"index moved {moved[-1].wall:.2f}s", flush=True)
    return unchanged, moved


def section(rows: list[tuple[str, str, list[Sample], list[Sample]]], rounds: int) -> str:
    def fig(samples: list[Sample]) -> str:
        return (f"{statistics.median(s.wall for s in samples):.2f} s, "
                f"{statistics.median(s.rss_mib for s in samples):.0f} MiB")

    lines = [HEADING, "", f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", f"- Machine: {machine()}",
             f"- Medians of {rounds} rounds; exit 0 and nothing built in every run; target: unchanged < 2 s.", "",
             "| family | index and request | unchanged (top files only) | index moved (resolved again) |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {family} | {label} | {fig(a)} | {fig(b)} |" for family, label, a, b in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--yum-packages", type=int, default=60_000)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="rootfs-bench-refresh.", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        mirrors = make_mirrors(work, {"apt", "yum", "apk"}, args.yum_packages)
        with Server(mirrors.www) as server:
            rows = []
            for family, label, argv in resolve_cases(mirrors, server.url):
                unchanged, moved = bench_family(family, argv, work, rounds)
                rows.append((family, label, unchanged, moved))
    text = section(rows, rounds)
    print(text)
    if args.results:
        put_section(args.results, HEADING, text)


if __name__ == "__main__":
    main()
