"""Commands run in mode root cannot see or reach the host through /proc: each runs in its own
PID and mount namespaces, with that namespace's /proc. `ls /proc` shows only the namespace's
processes, /proc/1 is the build's own command, a write to /proc/1/root/tmp lands in the root's
/tmp, and a canary directory outside the root stays byte-for-byte as it was. The no-sync
filter, the mounts' cleanup and the process cleanup still hold."""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest

from bootstrap.sandbox import ChrootRunner, mounts_under

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "umount", "readlink", "mkdir", "touch", "mknod",
           "mount", "chown", "chmod", "stat", "grep")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mode root needs root"),
    pytest.mark.skipif(not BUSYBOX.exists(), reason="needs a static /bin/busybox (busybox-static)"),
]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    top = tmp_path / "root"
    (top / "bin").mkdir(parents=True)
    (top / "tmp").mkdir()
    (top / "etc").mkdir()
    shutil.copy2(BUSYBOX, top / "bin" / "busybox")
    for name in APPLETS:
        os.symlink("busybox", top / "bin" / name)
    return top


@pytest.fixture()
def canary(tmp_path: Path) -> Path:
    top = tmp_path / "canary"
    (top / "sub").mkdir(parents=True)
    (top / "file").write_bytes(b"precious\n")
    (top / "sub" / "other").write_bytes(b"also\n")
    return top


def _snapshot(top: Path) -> dict[str, tuple[int, int, int, int, str]]:
    found = {}
    for path in sorted([top, *top.rglob("*")]):
        st = os.lstat(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_mtime_ns, st.st_size, digest)
    return found


def _run(root: Path, script: str) -> list[str]:
    lines: list[str] = []
    with ChrootRunner(root, log=lines.append) as runner:
        runner.run(["/bin/sh", "-c", script])
    assert mounts_under(root) == []
    return lines


def test_proc_shows_only_the_namespace(root: Path) -> None:
    lines = _run(root, "echo pid=$$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done")
    assert lines[0] == "pid=1"  # the command is the namespace's init
    pids = {int(line) for line in lines[1:]}
    assert pids == {1}  # the glob runs in the shell itself: nothing else exists there
    assert os.getpid() not in pids or os.getpid() == 1


def test_ls_proc_lists_no_host_process(root: Path) -> None:
    lines = _run(root, "ls /proc")
    numeric = {int(word) for line in lines for word in line.split() if word.isdigit()}
    assert numeric and max(numeric) <= 3  # sh (1), ls (2): never the host's
    assert "self" in " ".join(lines)


def test_proc_1_root_is_the_build_root(root: Path) -> None:
    name = f"rootfs-bootstrap-containment-{uuid.uuid4().hex}"
    lines = _run(root, f"echo reached > /proc/1/root/tmp/{name}; readlink /proc/1/root; "
                       f"cat /proc/1/root/tmp/{name}")
    assert not Path("/tmp", name).exists()
    assert (root / "tmp" / name).read_text() == "reached\n"
    assert lines == ["/", "reached"]


def test_canary_outside_the_root_is_unchanged(root: Path, canary: Path) -> None:
    before = _snapshot(canary)
    script = (f"for p in /proc/[0-9]*/root{canary} /proc/[0-9]*/cwd{canary} /proc/*/root/../../{canary}; do "
              f"echo pwned > \"$p/file\" 2>/dev/null; echo pwned > \"$p/new\" 2>/dev/null; "
              f"mkdir \"$p/dir\" 2>/dev/null; done; "
              f"echo pwned > {canary}/file 2>/dev/null; true")
    _run(root, script)
    assert _snapshot(canary) == before
    assert not (root / str(canary).lstrip("/")).exists() or _snapshot(canary) == before


def test_proc_cannot_be_unmounted_to_look_beneath(root: Path) -> None:
    # Without CAP_SYS_ADMIN the namespace's /proc stays; were it gone, the placeholder is empty.
    lines = _run(root, "umount /proc 2>/dev/null && echo unmounted || echo refused; "
                       "for p in /proc/[0-9]*; do echo \"entry $p\"; done")
    assert lines[0] == "refused"
    assert [line for line in lines if line.startswith("entry ")] == ["entry /proc/1"]


def test_no_mount_no_mknod_but_root_owns_files(root: Path) -> None:
    """Scripts keep what packages need (chown, chmod, setuid bits) and lose what reaches
    past the root: mount (a host disk), mknod (raw disk access)."""
    lines = _run(root, "mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo no-mount; "
                       "mknod /tmp/sda b 8 0 2>/dev/null && echo made || echo no-mknod; "
                       "touch /tmp/f && chown 5:7 /tmp/f && chmod 4755 /tmp/f && stat -c '%u %g %a' /tmp/f; "
                       "grep CapBnd /proc/self/status")
    assert lines[:3] == ["no-mount", "no-mknod", "5 7 4755"]
    bounding = int(lines[3].split()[1], 16)
    for bit in (21, 27, 16, 17):  # CAP_SYS_ADMIN, CAP_MKNOD, CAP_SYS_MODULE, CAP_SYS_RAWIO
        assert not bounding & (1 << bit)
    for bit in (0, 1, 3, 6, 7, 18, 31):  # chown, dac_override, fowner, setgid, setuid, chroot, setfcap
        assert bounding & (1 << bit)
    assert not (root / "tmp" / "sda").exists()


def test_host_processes_unreachable_by_kill(root: Path) -> None:
    # A host pid number means nothing inside: kill reaches no host process.
    lines = _run(root, f"kill -0 {os.getpid()} 2>/dev/null && echo reached || echo unreachable")
    assert lines == ["unreachable"]


def test_each_command_gets_a_fresh_namespace(root: Path) -> None:
    lines: list[str] = []
    with ChrootRunner(root, log=lines.append) as runner:
        runner.run(["/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & echo first $$"])
        runner.run(["/bin/sh", "-c", "echo second $$; for p in /proc/[0-9]*; do echo \"${p#/proc/} "
                                     "$(cat $p/cmdline)\"; done"])
    assert lines[0] == "first 1" and lines[1] == "second 1"
    # Only the second command's shell (and its $(cat) child): the first command's background
    # sleep died with its namespace.
    assert all("sleep" not in line for line in lines[2:])
    assert mounts_under(root) == []
