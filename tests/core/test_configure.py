"""The chroot runner and mode detection, on a tiny root made of the host's own dash, sleep,
uname and cat (with the libraries ldd names), so the tests run in a second.

Checked: commands run inside with the promised environment and stdin; failures carry the exit
status and the last output lines; /proc, /sys, /dev, /dev/pts are mounted while inside and
gone afterwards, also after an exception and after Ctrl-C (with the command's background
children killed); resolv.conf is lent and given back; linux32 changes `uname -m`; a /proc that
is a symlink is refused.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bootstrap.errors import ConfigureError, UsageError
from bootstrap.sandbox import BASE_ENV, ChrootRunner, CommandFailed, detect_mode, subordinate_range, unshare_unavailable

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mode root needs root (chroot, mounts)")
TOOLS = ("dash", "sleep", "uname", "cat", "chown")


def _copy_with_libs(binary: Path, root: Path) -> None:
    target = root / str(binary).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        words = [w for w in line.split() if w.startswith("/")]
        if words:
            lib = Path(words[0])
            dest = root / str(lib).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                shutil.copy2(lib.resolve(), dest)


@pytest.fixture()
def tiny_root(tmp_path: Path) -> Path:
    """A root where /bin/sh, sleep, uname, cat and chown run: enough to test the runner."""
    return _tiny_root(tmp_path / "root")


def _tiny_root(root: Path) -> Path:
    which = {name: shutil.which(name) for name in TOOLS}
    found = {name: where for name, where in which.items() if where is not None}
    if len(found) != len(TOOLS) or shutil.which("ldd") is None:
        pytest.skip(f"needs {', '.join(TOOLS)} and ldd on the host")
    (root / "etc").mkdir(parents=True)
    for name, where in found.items():
        _copy_with_libs(Path(where).resolve(), root)
        if not (root / "bin" / name).exists():
            (root / "bin").mkdir(exist_ok=True)
            os.symlink(str(Path(where).resolve()), root / "bin" / name)
    os.symlink("dash", root / "bin" / "sh") if not (root / "bin/sh").exists() else None
    return root


def _mounts_under(root: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line.split()[4] for line in text.splitlines() if line.split()[4].startswith(str(root))]


def _processes_in(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == str(root):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_detect_mode_extract_and_unknown() -> None:
    said: list[str] = []
    assert detect_mode("extract", said.append) == "extract"
    with pytest.raises(UsageError):
        detect_mode("chroot", said.append)


@needs_root
def test_detect_mode_auto_as_root_says_why() -> None:
    said: list[str] = []
    assert detect_mode("auto", said.append) == "root"
    assert said and "root" in said[0]
    assert detect_mode("root", said.append) == "root"


def test_subordinate_ranges(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:1000\nalice:200000:65536\n1001:300000:65536\n")
    assert subordinate_range(subuid, "alice", 1000) == (200000, 65536)  # the first big enough
    assert subordinate_range(subuid, "bob", 1001) == (300000, 65536)    # numeric entry
    assert subordinate_range(subuid, "carol", 1002) is None
    assert subordinate_range(tmp_path / "absent", "alice", 1000) is None


def test_unshare_unavailable_gives_a_reason_or_none() -> None:
    problem = unshare_unavailable(user="no-such-user-here")
    # This user has no /etc/subuid range anywhere, so there is always a reason, in words.
    assert problem is not None and len(problem) > 10


@needs_root
def test_run_environment_stdin_and_logging(tiny_root: Path) -> None:
    lines: list[str] = []
    family_env = {"DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
    with ChrootRunner(tiny_root, env=family_env, log=lines.append) as runner:
        runner.run(["/bin/sh", "-c", 'echo "$DEBIAN_FRONTEND $DEBCONF_NONINTERACTIVE_SEEN $LC_ALL $PATH"'])
        runner.run(["/bin/sh", "-c", 'read x; echo "got $x $EXTRA"'], env={"EXTRA": "e"}, input=b"hello\n")
        runner.run(["/bin/sh", "-c", "echo $(pwd); test -c /dev/null && echo > /dev/null && test -d /dev/pts "
                    "&& test -e /proc/self/status && test -d /sys/kernel && echo mounts-ok"])
    assert lines[0] == f"noninteractive true C {BASE_ENV['PATH']}"
    assert lines[1] == "got hello e"
    assert lines[2:] == ["/", "mounts-ok"]
    assert _mounts_under(tiny_root) == []
    assert sorted(os.listdir(tiny_root / "dev")) == [] and os.listdir(tiny_root / "proc") == []


@needs_root
def test_failure_names_command_exit_and_last_lines(tiny_root: Path) -> None:
    with ChrootRunner(tiny_root) as runner, pytest.raises(CommandFailed) as caught:
        runner.run(["/bin/sh", "-c", "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); done; exit 3"])
    err = caught.value
    assert isinstance(err, ConfigureError) and err.status == 3
    assert "exit 3" in err.message and "\n" not in err.message
    assert list(err.output) == [f"line{i}" for i in range(10, 30)]
    assert err.hint is not None and err.hint.endswith("line29")
    assert _mounts_under(tiny_root) == []


@needs_root
def test_unmounts_after_exception_in_block(tiny_root: Path) -> None:
    with pytest.raises(RuntimeError), ChrootRunner(tiny_root):
        assert len(_mounts_under(tiny_root)) == 5  # proc, sys, dev, dev/pts, dev/shm
        raise RuntimeError("boom")
    assert _mounts_under(tiny_root) == []


@needs_root
def test_ctrl_c_kills_the_command_and_its_children_then_unmounts(tiny_root: Path) -> None:
    def interrupt(line: str) -> None:
        if line == "started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), ChrootRunner(tiny_root, log=interrupt) as runner:
        runner.run(["/bin/sh", "-c", "sleep 60 & sleep 60 & echo started; wait"])
    assert _mounts_under(tiny_root) == []
    assert _processes_in(tiny_root) == []


@needs_root
def test_background_leftovers_end_with_their_command(tiny_root: Path) -> None:
    with ChrootRunner(tiny_root) as runner:
        runner.run(["/bin/sh", "-c", "sleep 60 >/dev/null 2>&1 & echo bye"])
        assert _processes_in(tiny_root) == []
    assert _mounts_under(tiny_root) == []


@needs_root
def test_resolv_conf_is_lent_and_given_back(tiny_root: Path) -> None:
    if not Path("/etc/resolv.conf").exists():
        pytest.skip("the host has no /etc/resolv.conf")
    host = Path("/etc/resolv.conf").read_bytes()
    os.symlink("../run/systemd/resolve/stub-resolv.conf", tiny_root / "etc/resolv.conf")
    seen: list[str] = []
    with ChrootRunner(tiny_root, log=seen.append) as runner:
        runner.run(["cat", "/etc/resolv.conf"])
    assert seen == host.decode().splitlines()
    assert os.readlink(tiny_root / "etc/resolv.conf") == "../run/systemd/resolve/stub-resolv.conf"
    (tiny_root / "etc/resolv.conf").unlink()
    with ChrootRunner(tiny_root) as runner:
        runner.run(["/bin/sh", "-c", "test -s /etc/resolv.conf"])
    assert not os.path.lexists(tiny_root / "etc/resolv.conf")


@needs_root
def test_linux32_personality(tiny_root: Path) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("linux32 is checked on x86_64 hosts")
    seen: list[str] = []
    with ChrootRunner(tiny_root, personality="linux32", log=seen.append) as runner:
        runner.run(["uname", "-m"])
    with ChrootRunner(tiny_root, log=seen.append) as runner:
        runner.run(["uname", "-m"])
    assert seen == ["i686", "x86_64"]


@needs_root
def test_refuses_a_proc_that_is_a_symlink(tiny_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), tiny_root / "proc")
    with pytest.raises(ConfigureError, match="symbolic link"), ChrootRunner(tiny_root):
        pass
    assert _mounts_under(tiny_root) == [] and _mounts_under(elsewhere) == []


def test_extract_mode_has_no_runner(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        ChrootRunner(tmp_path, mode="extract")


UNSHARE_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bootstrap.sandbox import ChrootRunner, detect_mode
said = []
print(detect_mode("auto", said.append), said[-1])
for personality in (None, "linux32"):
    with ChrootRunner(Path(sys.argv[2]), mode="unshare", personality=personality, log=print) as runner:
        runner.run(["/bin/sh", "-c", "test -c /dev/null && test -d /dev/pts && test -r /proc/self/status "
                    "&& : > /f && chown 42:4242 /f && echo inside-ok; uname -m; "
                    "while read key value; do [ $key = Seccomp: ] && echo seccomp $value; done "
                    "< /proc/self/status; true"])
"""


@needs_root
def test_unshare_mode_as_an_unprivileged_user() -> None:
    """Mode unshare, run by uid 65534 with a subordinate range that exists only in a private
    mount namespace (a bind over /etc/subuid, /etc/subgid), so the host is left untouched."""
    tools = ("setpriv", "unshare", "newuidmap", "newgidmap")
    if not all(shutil.which(t) for t in tools) or not Path("/usr/bin/python3").exists():
        pytest.skip(f"needs {', '.join(tools)} and /usr/bin/python3")
    work = Path(tempfile.mkdtemp(prefix="rootfs-bootstrap-unshare-", dir="/tmp"))
    try:
        os.chmod(work, 0o755)
        root = _tiny_root(work / "root")
        shutil.copytree(Path(__file__).resolve().parents[2] / "bootstrap", work / "src" / "bootstrap")
        (work / "probe.py").write_text(UNSHARE_PROBE)
        for name in ("subuid", "subgid"):
            (work / name).write_text("nobody:300000:65536\n")
        subprocess.run(["chown", "-R", "65534:65534", str(work)], check=True)
        setup = (f"mount --bind {work}/subuid /etc/subuid && mount --bind {work}/subgid /etc/subgid && "
                 "exec setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin "
                 f"/usr/bin/python3 {work}/probe.py {work}/src {root}")
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["unshare mode: unshare (user namespaces with subordinate ids)",
                                            "inside-ok", "x86_64", "seccomp 2", "inside-ok", "i686",
                                            "seccomp 2"] or os.uname().machine != "x86_64"
        made = (root / "f").stat()
        assert (made.st_uid, made.st_gid) == (300000 + 41, 300000 + 4241)  # 42 → range start + 41
        assert os.listdir(root / "dev") == [] and os.listdir(root / "proc") == []
    finally:
        shutil.rmtree(work, ignore_errors=True)
