#!/usr/bin/env python3
"""Wall time and peak memory of one command, counting every process it starts.

`measure(argv)` runs `python -I -S peakwrap.py RESULT ARGV...`: a fresh process per measurement,
so nothing of an earlier run (and none of the benchmark's own memory) is counted. The wrapper

- makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a process of the tree whose
  parent exits first is re-parented to the wrapper, not to init, so it is still counted;
- starts ARGV with os.posix_spawnp and waits for it;
- reaps every descendant that has already exited (a daemon that outlives the command, such as
  a gpg-agent, is not waited for and not counted);
- reads getrusage(RUSAGE_CHILDREN).ru_maxrss. Linux keeps there the largest peak RSS of any
  waited-for descendant, grandchildren included (each parent folds the peaks of the children it
  waited for into its own, `cmaxrss`): the peak of the largest *single* process of the tree
  (apt, dpkg, xz, gpgv or the tool itself), never a sum. Its floor is the wrapper's own ~9 MiB
  (peakwrap.py's docstring).

Wall time is taken in the wrapper, from the spawn to the end of the wait. The command's stderr
is captured (its tail is in the Sample), its stdout discarded unless asked for.
By hand: `python benchmarks/measure.py -- CMD ARGS` prints the two figures.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

WRAPPER = Path(__file__).resolve().with_name("peakwrap.py")


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, peak RSS of the largest process (MiB), exit code, output."""

    wall: float
    rss_mib: float
    returncode: int
    stderr: str = ""
    stdout: str = ""


def measure(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
            keep_stdout: bool = False) -> Sample:
    """Run `argv` under the wrapper (see the module's docstring) and return its Sample."""
    with tempfile.NamedTemporaryFile("r", prefix="measure.", suffix=".txt") as result:
        done = subprocess.run([sys.executable, "-I", "-S", str(WRAPPER), result.name, *argv],
                              stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        figures = result.read().split()
    if len(figures) != 3:
        raise RuntimeError(f"measure: the wrapper failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return Sample(float(figures[0]), int(figures[1]) / 1024, int(figures[2]), done.stderr[-4000:],
                  done.stdout if keep_stdout else "")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: measure.py -- COMMAND [ARGS...]")
    sample = measure(args)
    sys.stderr.write(sample.stderr)
    print(f"wall {sample.wall:.2f} s, largest process {sample.rss_mib:.1f} MiB RSS, exit {sample.returncode}")


if __name__ == "__main__":
    main()
