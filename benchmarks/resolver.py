#!/usr/bin/env python3
"""The resolver alone on large indexes: CPU time and peak memory of `resolve()`.

- Alpine 3.16's real APKINDEX (4,929 packages, ../shared/realdata/apk/alpine-316): alpine-base,
  and a request of 200 packages (every n-th name of the sorted index; a name whose request
  cannot be met, as one needing the community repository, is replaced by the next name);
- Debian bookworm main (about 63,000 packages): the host's apt list, or --debian PATH to a
  Packages file (plain, .gz, .xz, .lz4); minbase (Priority: required + apt + usr-is-merged),
  buildd (+ build-essential) and default (+ Priority: important), as the apt adapter asks, and
  200 packages picked as for Alpine;
- the synthetic 60,000-package universe of tests/core/test_resolve.py (a closure of 42,000).

Each figure is the best of --rounds runs of `resolve()` alone (parsing the index excluded), in
CPU seconds (time.process_time, so other load on the machine counts less), then the peak of
the memory Python allocated during one more run (tracemalloc). --results FILE puts the table
in FILE as its "## The resolver alone" section (replaced if there, else appended), so it can
follow benchmarks/run.py's RESULTS.md.
"""
from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bootstrap.errors import ResolveError  # noqa: E402
from bootstrap.resolve import Resolution, resolve  # noqa: E402
from bootstrap.types import Dependency, Package, Relation, VersionScheme  # noqa: E402

ALPINE = REPO.parent / "shared" / "realdata" / "apk" / "alpine-316" / "APKINDEX.tar.gz"
APT_LISTS = "/var/lib/apt/lists/*_dists_bookworm_main_binary-amd64_Packages*"
SECTION = "## The resolver alone"

Scenario = tuple[str, Sequence[Package], list[Dependency], VersionScheme]


def _requests(names: Sequence[str]) -> list[Dependency]:
    return [(Relation(n),) for n in names]


def alpine() -> list[Scenario]:
    from bootstrap.adapters.apk.index import parse_apkindex, read_index
    from bootstrap.adapters.apk.version import apk_version_scheme

    if not ALPINE.exists():
        print(f"skipped Alpine: no {ALPINE}", file=sys.stderr)
        return []
    index = read_index(ALPINE.read_bytes(), None, "APKINDEX")
    packages = parse_apkindex(index.text, "http://mirror/main", "x86_64", "main")
    scheme = apk_version_scheme("x86_64")
    return [("alpine 3.16: alpine-base", packages, _requests(["alpine-base"]), scheme),
            ("alpine 3.16: 200 packages", packages, _two_hundred(packages, scheme), scheme)]


def _two_hundred(packages: Sequence[Package], scheme: VersionScheme) -> list[Dependency]:
    """Every n-th name of the sorted index, 200 of them; a name the error of a failed try
    names (one needing another repository, or in conflict with another pick) is replaced by
    the next unpicked name, until the whole request resolves."""
    names = sorted({p.name for p in packages})
    step = len(names) // 200
    picked = [names[i * step] for i in range(200)]
    spare = iter(n for n in names if n not in picked)
    for _ in range(400):
        try:
            resolve(packages, _requests(picked), scheme)
            return _requests(picked)
        except ResolveError as exc:
            words = set(re.findall(r"[^\s,:()'\"]+", exc.message))
            culprit = next((n for n in picked if n in words), picked[-1])
            picked[picked.index(culprit)] = next(spare)
    raise SystemExit("no 200-package request of the index resolves")


def debian(path: str | None) -> list[Scenario]:
    from bootstrap.adapters.apt.packages import debian_version_scheme, parse_packages

    found = path or next(iter(sorted(glob.glob(APT_LISTS))), None)
    if found is None:
        print("skipped Debian: no bookworm main list in /var/lib/apt/lists (give --debian)", file=sys.stderr)
        return []
    packages = parse_packages(_read(found), base_url="http://mirror/debian/", repo_id="main")
    scheme = debian_version_scheme("amd64")
    required = sorted({p.name for p in packages if p.priority == "required" and p.arch in ("amd64", "all")})
    important = sorted({p.name for p in packages if p.priority == "important" and p.arch in ("amd64", "all")})
    base = required + ["apt", "usr-is-merged"]
    label = f"debian bookworm ({len(packages):,} packages)"
    return [(f"{label}: minbase", packages, _requests(base), scheme),
            (f"{label}: buildd", packages, _requests(base + ["build-essential"]), scheme),
            (f"{label}: default", packages, _requests(base + important), scheme),
            (f"{label}: 200 packages", packages, _two_hundred(packages, scheme), scheme)]


def _read(path: str) -> bytes:
    if path.endswith(".lz4"):
        return subprocess.run(["lz4", "-dc", path], check=True, capture_output=True).stdout
    from bootstrap.compression import decompress

    data = Path(path).read_bytes()
    return decompress(data, path) if path.endswith((".gz", ".xz", ".bz2", ".zst")) else data


def synthetic() -> list[Scenario]:
    from tests.core.test_resolve import scheme, synthetic_universe

    requests = _requests([f"pkg{i}" for i in range(59_000, 60_000, 10)])
    return [("synthetic 60,000 (tests/core)", synthetic_universe(60_000), requests,
             scheme(["amd64", "all"]))]


def measure(scenario: Scenario, rounds: int) -> tuple[str, int, float, float]:
    """(label, packages chosen, best CPU seconds, peak MiB allocated)."""
    label, packages, requests, scheme = scenario
    run: Callable[[], Resolution] = lambda: resolve(packages, requests, scheme)  # noqa: E731
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        result = run()
        best = min(best, time.process_time() - start)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return label, len(result.packages), best, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debian", help="a Debian Packages file (default: the host's apt list)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic universe")
    parser.add_argument("--results", type=Path, help="write the table (markdown) to this file")
    args = parser.parse_args()
    scenarios = alpine() + debian(args.debian) + ([] if args.no_synthetic else synthetic())
    rows = []
    for scenario in scenarios:
        label, chosen, seconds, mib = measure(scenario, args.rounds)
        print(f"{label:55} {chosen:6} packages  {seconds:7.3f} s  {mib:7.1f} MiB", flush=True)
        rows.append(f"| {label} | {chosen} | {seconds:.3f} | {mib:.1f} |")
    if args.results:
        write_section(args.results, SECTION + "\n\n"
                      f"`benchmarks/resolver.py`: best of {args.rounds} runs of resolve() alone, CPU "
                      "time; peak memory Python allocated during one run (tracemalloc).\n\n"
                      f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
                      f"- Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n\n"
                      "| scenario | packages chosen | resolve (s) | peak memory (MiB) |\n"
                      "| --- | ---: | ---: | ---: |\n" + "\n".join(rows) + "\n")


def write_section(path: Path, section: str) -> None:
    """Replace the resolver's section of `path`, or append it (the file may not exist)."""
    text = path.read_text() if path.exists() else ""
    start = text.find(SECTION)
    if start < 0:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
