"""Running commands inside the new root: mode detection and the chroot runner.

Modes (as mmdebstrap names them):
- `root`: euid 0; the root gets /sys, a private /dev and /dev/pts mounted on enter (and an
  empty placeholder on /proc), unmounted in reverse order on exit (lazily if busy), Ctrl-C and
  errors included. Each command runs in fresh PID and mount namespaces (util-linux `unshare
  --pid --mount --fork --kill-child`) with that namespace's own /proc mounted over the
  placeholder, then chroots: the command is PID 1 there, no host process is visible (no
  /proc/<host pid>/root leads out of the root), and whatever it leaves running dies with it.
  Commands run with fsync and friends made no-ops (bootstrap.sandbox.nosync: the root is
  packed, not kept); in mode unshare too, installed inside the new user namespace.
- `unshare`: no root needed. The build runs whole inside one user namespace
  (bootstrap.rootless): the build user is uid 0 there and its /etc/subuid, /etc/subgid ranges
  are ids 1..n (packages chown to root:shadow, _apt...), and the runner works as in mode root
  (`userns.inside()`), but for what a user namespace cannot do: /sys is bound, not mounted,
  and /dev gets the host's nodes bound in (no mknod). A runner of mode unshare made outside
  such a namespace (a library caller) runs each command in fresh user, mount and pid
  namespaces of its own instead (util-linux `unshare`, `unshare_script`); the owners scripts
  set then land on the disk as subordinate ids, which only the namespace's packer reads back.
- `extract`: no scripts at all; works anywhere.
"""
from __future__ import annotations

import collections
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootstrap.errors import CommandFailed, ConfigureError, UsageError
from bootstrap.sandbox import nosync, userns
from bootstrap.sandbox.caps import drop_argv
from bootstrap.sandbox.mounts import MountStack, check_mountpoint, unshare_script
from bootstrap.sandbox.userns import Reason
from bootstrap.types import Log

MODES = ("auto", "root", "unshare", "extract")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What every command in the root sees: the C locale (present in every release, unlike C.UTF-8
# before glibc 2.35 in Debian's sense), nothing of the build user's environment. A family adds
# its own (Debian's debconf frontend) through FamilyFacts.script_env, given to the runner.
BASE_ENV = {"PATH": PATH, "LC_ALL": "C", "LANG": "C", "HOME": "/root", "SHELL": "/bin/sh"}
PER_LINUX32 = 0x0008
PR_SET_PDEATHSIG = 1
_TAIL = 20


def detect_mode(requested: str, log: Log) -> str:
    """`auto` → the best mode this machine allows (root, unshare, extract): one line for each
    better mode passed over (why not, and what would make it possible), then the one chosen.
    An explicit mode is checked and refused with the reason (and the fix as the hint) when it
    cannot work. In the namespace bootstrap.rootless made for an unshare build, `auto` and
    `unshare` are mode unshare, and what auto said outside is said again here."""
    if requested not in MODES:
        raise UsageError(f"unknown mode {requested!r}", hint=f"choose one of {', '.join(MODES)}")
    if requested == "extract":
        return "extract"
    if requested in ("auto", "unshare") and userns.inside():
        for line in userns.said_outside():
            log(line)
        return "unshare"
    root_problem = _root_problem()
    if requested == "root":
        if root_problem:
            raise UsageError(f"mode root is not possible: {root_problem}",
                             hint="run as root, or use --mode unshare or --mode extract")
        return "root"
    if requested == "auto" and not root_problem:
        log("mode: root (running as root, chroot works)")
        return "root"
    unshare_problem = unshare_unavailable()
    if requested == "unshare":
        if unshare_problem:
            fix = getattr(unshare_problem, "fix", "")
            raise UsageError(f"mode unshare is not possible: {unshare_problem}",
                             hint=(f"{fix}; or " if fix else "")
                             + "use --mode extract (no maintainer scripts), or run as root")
        return "unshare"
    log(_passed_over("root", root_problem))
    if not unshare_problem:
        log("mode: unshare (user namespaces with subordinate ids)")
        return "unshare"
    log(_passed_over("unshare", unshare_problem))
    log("mode: extract (maintainer scripts will not run)")
    return "extract"


def _passed_over(mode: str, problem: str | None) -> str:
    """Auto mode's line for a better mode it cannot use: why, and what would enable it."""
    fix = getattr(problem, "fix", "")
    return f"mode: {mode} is not possible: {problem}" + (f"; {fix}" if fix else "")


def _root_problem(proc: Path = Path("/proc")) -> Reason | None:
    """Why mode root cannot work here (uid 0, CAP_SYS_ADMIN to mount, chroot), or None."""
    if os.geteuid() != 0:
        return Reason("not running as root", "run as root (sudo) for mode root")
    if not userns.has_sys_admin(proc):
        return Reason("running as root without CAP_SYS_ADMIN (a container?), so nothing can be mounted",
                      "docker: --privileged, podman: --cap-add sys_admin")
    probe = subprocess.run(["chroot", "/", "true"], capture_output=True)
    if probe.returncode != 0:
        return Reason("chroot does not work here (no CAP_SYS_CHROOT?)", "a container needs CAP_SYS_CHROOT")
    return None


def unshare_unavailable(user: str | None = None) -> Reason | None:
    """None when unshare mode works for this user (or `user`); otherwise why not, in words,
    with `.fix`: what would make it work (bootstrap.sandbox.userns, in its order)."""
    return userns.unshare_reason(userns.Host(user=user) if user else None)


def _kill_group(proc: subprocess.Popen[bytes], patience: float = 5.0) -> None:
    """SIGKILL the command's process group, reap the command, and wait (briefly) until the
    rest of the group is gone too: a dying process still holds the mounts it uses."""
    pgid = proc.pid
    deadline = time.monotonic() + patience
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    try:
        # Look before sleeping: usually the group died with the command, and a script-heavy
        # configure runs this for every command.
        os.killpg(pgid, 0)
        while time.monotonic() < deadline:
            time.sleep(0.01)
            os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        pass


class ChrootRunner:
    """Runs commands inside `root` (a context manager; implements adapters.Runner).

    `personality="linux32"` makes `uname -m` say i686 for 32-bit targets on 64-bit hosts.
    The host's /etc/resolv.conf is copied in for the duration (scripts may resolve names) and
    whatever the root had there before is put back on exit.
    """

    def __init__(self, root: Path, *, mode: str = "root", personality: str | None = None,
                 env: Mapping[str, str] | None = None, log: Log | None = None) -> None:
        if mode not in ("root", "unshare"):
            raise UsageError(f"mode {mode!r} runs no commands inside the root")
        if personality not in (None, "linux32"):
            raise UsageError(f"unknown personality {personality!r}")
        self.root = Path(root).resolve()
        self.mode = mode
        self.personality = personality
        self.env = {**BASE_ENV, **(env or {})}
        self.log = log or (lambda _line: None)
        self._mounts = MountStack(self.log)
        self._resolv: tuple[Path, Path | None] | None = None
        self._ids: userns.IdMap | None = None
        # In the build's own namespace a runner of mode unshare is a root runner (see above).
        self._as_root = mode == "root" or userns.inside()
        self._tools: tuple[str, str, str] | None = None  # (unshare, setpriv, chroot) of the host
        self._libc = ctypes.CDLL(None, use_errno=True)  # loaded here: no dlopen after fork

    def __enter__(self) -> ChrootRunner:
        try:
            for name in ("proc", "sys", "dev"):
                check_mountpoint(self.root, name)
            self._tools = self._host_tools()
            if self._as_root:
                self._mounts.mount_all(self.root, userns=not userns.initial_namespace())
            else:
                self._ids = self._subordinate_ids()
            self._resolv_in()
        except BaseException:
            self._exit()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit()

    def _exit(self) -> None:
        try:
            self._resolv_out()
        finally:
            self._mounts.unmount_all()

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            input: bytes | None = None) -> None:
        """Run `argv` inside the root with BASE_ENV, the runner's `env`, then this call's
        `env`; output goes to the log.
        Raises CommandFailed (a ConfigureError) with the last lines of output on failure."""
        full_env = {**self.env, **(env or {})}
        if self._as_root:
            command, preexec = self._root_argv(argv), self._enter_root_mode
        else:
            command, preexec = self._unshare_argv(argv), self._set_personality
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        with tempfile.TemporaryFile() as stdin:
            stdin.write(input or b"")
            stdin.seek(0)
            proc = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=full_env, preexec_fn=preexec,
                                    cwd="/")
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    tail.append(line)
                    self.log(line)
                status = proc.wait()
            except BaseException:
                # Ctrl-C: the child and every script it started must be gone before the
                # mounts can go (an orphaned postinst would write into the bare root).
                _kill_group(proc)
                raise
            # Whatever a script left running in the background (a daemon that ignored
            # policy-rc.d) would hold the mounts: the command's group ends with it.
            _kill_group(proc)
        if status != 0:
            how = f"exit {status}" if status > 0 else f"killed by signal {-status}"
            raise CommandFailed(f"command {' '.join(argv)} failed ({how}) inside {self.root}",
                                "last output lines:\n" + "\n".join(tail) if tail else None,
                                argv=argv, status=status, output=list(tail))

    @staticmethod
    def _host_tools() -> tuple[str, str, str]:
        found = [shutil.which(tool, path=PATH) for tool in ("unshare", "setpriv", "chroot")]
        if None in found:
            raise ConfigureError("running scripts needs util-linux unshare and setpriv and coreutils "
                                 "chroot on the host", hint="install util-linux and coreutils, or use "
                                 "--mode extract")
        unshare, setpriv, chroot = (str(tool) for tool in found)
        return unshare, setpriv, chroot

    def _root_argv(self, argv: Sequence[str]) -> list[str]:
        """New PID and mount namespaces (private: nothing mounted there reaches the host), the
        namespace's own /proc over the root's placeholder, then chroot. --kill-child: the
        whole namespace ends when unshare does. The command runs without the capabilities
        that reach beyond the root (bootstrap.sandbox.caps)."""
        assert self._tools is not None
        unshare, setpriv, chroot = self._tools
        return [unshare, "--pid", "--mount", "--fork", "--kill-child", "--propagation", "private",
                f"--mount-proc={self.root / 'proc'}", "--", *drop_argv(setpriv), chroot,
                str(self.root), *argv]

    def _enter_root_mode(self) -> None:
        """In the child before `unshare` runs: group, personality and the no-sync filter are
        inherited by everything the command starts."""
        self._set_personality()
        try:
            nosync.suppress_sync()
        except OSError:
            pass  # a kernel without seccomp (or a container that forbids it): slower, same result

    def _set_personality(self) -> None:
        os.setpgid(0, 0)  # its own process group, so that _kill_group reaches every child
        libc = self._libc
        # A build killed outright (SIGKILL) takes the command with it: unshare --kill-child
        # then ends the namespace, scripts included.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if self.personality == "linux32" and libc.personality(PER_LINUX32) == -1:
            os._exit(126)

    def _subordinate_ids(self) -> userns.IdMap:
        problem = unshare_unavailable()
        if problem:
            raise ConfigureError(f"mode unshare is not possible: {problem}",
                                 hint=getattr(problem, "fix", "") or "use --mode extract, or run as root")
        ids = userns.id_map()
        assert ids is not None
        return ids

    def _unshare_argv(self, argv: Sequence[str]) -> list[str]:
        """unshare maps our uid to 0 and the subordinate range to 1..n-1 (newuidmap), then
        the script mounts /proc, /sys, /dev inside the new mount namespace and chroots."""
        assert self._ids is not None and self._tools is not None
        return ["unshare", *self._ids.argv(), "--mount", "--pid", "--fork",
                "--kill-child", "--propagation", "private", "--",
                *nosync.helper_argv(["sh", "-c", unshare_script(drop_argv(self._tools[1])), "rootfs-bootstrap",
                                     str(self.root), *argv])]

    def _resolv_in(self) -> None:
        """Copy the host's resolv.conf in; keep the root's own (file or link) aside."""
        host = Path("/etc/resolv.conf")
        target = self.root / "etc" / "resolv.conf"
        if not target.parent.is_dir() or target.parent.is_symlink() or not host.exists():
            return
        saved = None
        if os.path.lexists(target):
            saved = target.with_name("resolv.conf.rootfs-bootstrap-saved")
            os.replace(target, saved)
        self._resolv = (target, saved)
        shutil.copyfile(host, target)

    def _resolv_out(self) -> None:
        if self._resolv is None:
            return
        target, saved = self._resolv
        self._resolv = None
        if os.path.lexists(target):
            target.unlink()
        if saved is not None:
            os.replace(saved, target)
