"""mmdebstrap's hooks: user commands run on the host between phases, with the root as $1; a
hook and everything it started end when the build is interrupted."""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

from bootstrap.errors import ConfigureError
from bootstrap.report import Reporter
from bootstrap.root import Root


def run_hooks(kind: str, commands: Sequence[str], root: Root, report: Reporter) -> None:
    """mmdebstrap's hooks: each command runs on the host with the root directory as $1."""
    for command in commands:
        report.info(f"hook-{kind}: {command}")
        proc = subprocess.Popen(["sh", "-c", command, "hook", str(root.path)],
                                env={**os.environ, "ROOT": str(root.path)})
        try:
            status = proc.wait()
        except BaseException:  # Ctrl-C, SIGTERM: the hook and what it started end first
            _end_tree(proc)
            raise
        if status != 0:
            raise ConfigureError(f"--hook-{kind} command failed (exit {status}): {command}")


def _end_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL `proc` and every process descending from it (found through /proc), then reap it.
    Each is stopped (SIGSTOP) before its children are listed, so none forks one unseen."""
    tree: list[int] = []
    todo = [proc.pid]
    while todo:
        for pid in todo:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        tree += todo
        todo = [pid for pid in _children(set(todo)) if pid not in tree]
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def _children(parents: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid in parents:
                found.append(int(entry))
    return found
