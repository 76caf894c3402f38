"""Mode unshare as mmdebstrap does it: the whole build (unpack, configure, pack) runs inside one
user namespace whose uid 0 is the building user and whose ids 1..65535 are the user's
subordinate range, so every owner the packages declare and every chown a maintainer script
makes is real there, and the packer reads back the ids as they are inside: the tar (the OCI
layer, the directory) is the one mode root gives, byte for byte.

How: the command line (bootstrap.cli) asks `namespace_needed` before a build. When the build's
mode is unshare (asked, or what auto chooses) and this process is not already in such a
namespace, `run_inside` runs the same command line again under util-linux `unshare` (the map
through newuidmap/newgidmap, a private mount namespace) with `userns.MARKER` in the
environment, and the build there runs as mode root runs (bootstrap.sandbox: `userns.inside`).

Contracts:
- the exit status is the inner build's; its output (stdout, -o -, --json) and its lines are
  the inner build's own, nothing is said twice;
- SIGINT, SIGTERM and SIGHUP that reach this process are given to the inner build, once each,
  which then stops and cleans up as any build does (the inner runs in its own process group,
  so a terminal's Ctrl-C reaches it only through here);
- the inner build dies with this process (a parent-death signal), and when it dies of a
  signal itself, what it left running (a hook: this process is their subreaper, so they
  become its children) is killed, and its build root (files of subordinate ids, which only
  the namespace may remove) is removed from a namespace of the same map, before the error
  is said;
- the namespace has no pid namespace of its own: its pid 1 would drop every signal it has no
  handler for yet, util-linux's --fork neither passes signals on nor tells a child's death by
  SIGKILL from exit 1, and the host's /proc would show other pids than the process knows
  (bootstrap.hooks finds a hook's children there). Each maintainer script still runs in a pid
  namespace of its own (the runner), and the cache, the output and the downloads are the
  user's: uid 0 inside is the user outside.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bootstrap.errors import BootstrapError, Interrupted
from bootstrap.sandbox import detect_mode, userns
from bootstrap.types import Log

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOPS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
# The inner interpreter imports the very bootstrap package this one runs (argv[1]), whatever the
# current directory holds.
_INNER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from bootstrap.cli import main; main()"
_SWEEP = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from pathlib import Path; "
          "from bootstrap.buildroot import remove_stale_roots; "
          "[remove_stale_roots(Path(p), print) for p in sys.argv[1:]]")


class BuildKilled(BootstrapError):
    """The build in the user namespace was killed by a signal (its root was removed)."""


def namespace_needed(requested: str) -> list[str] | None:
    """None when the build runs in this process; else what auto mode said of the modes it
    passed over and the one it chose (empty for --mode unshare), for the build in the
    namespace to say. UsageError when --mode unshare is not possible here (the reason, and
    the fix as the hint)."""
    if requested not in ("auto", "unshare") or userns.inside():
        return None
    said: list[str] = []
    mode = detect_mode(requested, said.append)
    return said if mode == "unshare" else None


def root_parents(output: str, fmt: str) -> list[Path]:
    """Where a build's root may be (TMPDIR, or beside a directory output): where to look
    for the root of a build that was killed."""
    parents = [Path(tempfile.gettempdir())]
    if fmt == "dir" or output.endswith("/"):
        parents.append(Path(output.rstrip("/") or ".").resolve().parent)
    return parents


def run_inside(said: Sequence[str], parents: Sequence[Path], log: Log,
               argv: Sequence[str] | None = None) -> int:
    """Run this command line (or `argv`, the words after the program's name) in the build's
    user namespace; its exit status. BuildKilled (or Interrupted, for a stop signal) when it
    died of a signal, after its root was removed."""
    ids = userns.id_map()
    unshare = shutil.which("unshare")
    if ids is None or unshare is None:  # namespace_needed checked both: changed since
        raise BootstrapError("mode unshare is no longer possible: the subordinate ranges or unshare are gone")
    package_home = str(Path(__file__).resolve().parents[1])
    words = list(sys.argv[1:] if argv is None else argv)
    command = [unshare, *ids.argv(), "--mount", "--propagation", "private", "--",
               sys.executable, "-c", _INNER, package_home, *words]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of the build come to us, not to init
    proc = subprocess.Popen(command, env={**os.environ, userns.MARKER: "\n".join(said)},
                            preexec_fn=_child_setup(libc))
    status = _wait_forwarding(proc)
    if status >= 0:
        return status
    _end_leftovers()
    _sweep(unshare, ids, package_home, parents, log)
    raise _killed(-status)


def _child_setup(libc: ctypes.CDLL) -> Callable[[], None]:
    """In the child before exec: its own process group (the terminal's Ctrl-C comes through
    this process, once), and death with this process (nothing runs on unwatched)."""
    def setup() -> None:
        os.setpgid(0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return setup


def _wait_forwarding(proc: subprocess.Popen[bytes]) -> int:
    """Wait for `proc`, handing it each stop signal this process gets (one ignored here, as
    with nohup, stays ignored: the child inherited that too)."""
    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(proc.pid, signum)
        except ProcessLookupError:
            pass

    previous = {}
    for signum in FORWARDED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, forward)
    try:
        return proc.wait()  # a handled signal interrupts no wait (PEP 475)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _end_leftovers() -> None:
    """SIGKILL and reap every child this process has left: what the killed build had
    running (reparented here, the subreaper), until none is left (one that forked meanwhile
    hands its child on to us too)."""
    while True:
        children = _children()
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _children() -> list[int]:
    """The pids whose parent is this process (from /proc)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == me:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _sweep(unshare: str, ids: userns.IdMap, package_home: str, parents: Sequence[Path], log: Log) -> None:
    """Remove the roots no live build holds in `parents`, from a namespace of the same map:
    their files belong to subordinate ids, beyond the user's own reach."""
    done = subprocess.run([unshare, *ids.argv(), "--mount", "--", sys.executable, "-c", _SWEEP, package_home,
                           *map(str, parents)], capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log(line)


def _killed(signum: int) -> BootstrapError:
    """The one line for a build that died of `signum`; the exit status is 128 + signum."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    err: BootstrapError
    if signum in STOPS:  # it came before the build's own handler was there
        err = Interrupted(f"{STOPS[signal.Signals(signum)]} ({name}); nothing was written")
    else:
        err = BuildKilled(f"the build was killed by {name} in its user namespace; its build root was removed",
                          hint="nothing was written")
    err.exit_code = 128 + signum
    return err
