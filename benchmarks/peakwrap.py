"""The wrapper of benchmarks/measure.py, kept apart so that it imports almost nothing: `python
-I -S peakwrap.py RESULT ARGV...` runs ARGV as its child and writes "WALL MAXRSS_KIB EXITCODE" to
RESULT (see measure.py for what the figures mean). An exec keeps the larger of the old and the new
image's peak RSS, so no figure can be below this process's own (about 9 MiB: Python, os,
resource, ctypes); every command benchmarked here is larger than that.
"""
import ctypes
import os
import resource
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main(result: str, argv: list[str]) -> None:
    """Become a subreaper, spawn `argv`, wait, reap exited orphans, write the figures."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    start = time.monotonic()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    wall = time.monotonic() - start
    while True:  # the orphans re-parented to us that have already exited
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if reaped == 0:
            break
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(result, "w") as out:
        out.write(f"{wall} {maxrss} {os.waitstatus_to_exitcode(status)}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
