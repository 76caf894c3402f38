"""Mode unshare without root gives the image mode root gives, and every host says why a mode is
not possible and what would make it so.

- The reasons (bootstrap.sandbox.userns), each on a made-up host (its /proc, /etc and PATH in
  a temporary directory; fake tools are shell scripts that fail as the real ones do), and two
  with the real tools: uid 65534 with no subordinate range, and a nested user namespace (a
  container's) where newuidmap may not map the range.
- Auto mode's lines: one per mode passed over (why, what would enable it), then the one chosen.
- Builds as uid 65534 (tests/nobody.py) in a private mount namespace where /etc/subuid and
  /etc/subgid are bound from temporary files giving it 65536 ids: a tiny archive whose postinst
  chowns (tar and OCI, byte-identical to mode root; a directory output owned by the ids as
  they are inside), SIGTERM and SIGKILL (no build root, no process left), and the real thing:
  a bookworm minbase from the host's mirror, the same sha256 as mode root's with
  SOURCE_DATE_EPOCH, /etc/shadow root:shadow (0:42).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.errors import UsageError
from bootstrap.sandbox import detect_mode, runner, userns
from bootstrap.sandbox.userns import Host, Reason, unshare_reason
from tests import nobody
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.apt.test_debian_real import CACHE, _mirror_reachable
from tests.server import Server

REPO = Path(__file__).resolve().parents[2]
EPOCH = "1700000000"
RANGE = "nobody:300000:65536\n"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "chown", "chmod", "mkdir", "touch", "echo", "cat", "true")
EPERM = "unshare: unshare failed: Operation not permitted"


# --- the reasons, on made-up hosts ---------------------------------------------------------

def _tool(where: Path, name: str, error: str | None = None) -> None:
    """A stand-in for `name` on PATH: succeeds, or prints `error` and fails as the tool does."""
    where.mkdir(parents=True, exist_ok=True)
    body = "exit 0" if error is None else f"echo '{error}' >&2; exit 1"
    (where / name).write_text(f"#!/bin/sh\n{body}\n")
    (where / name).chmod(0o755)


def _host(tmp_path: Path, *, uid: int = 1000, tools: tuple[str, ...] = ("unshare", "newuidmap", "newgidmap"),
          unshare_error: str | None = None, sysctls: dict[str, str] | None = None,
          uid_map: str = "0 0 4294967295\n", ranges: str = "alice:100000:65536\n") -> Host:
    """A host in `tmp_path`: its tools, /proc/sys knobs, /proc/self/uid_map and /etc/sub[ug]id."""
    proc, etc, path = tmp_path / "proc", tmp_path / "etc", tmp_path / "bin"
    for name in tools:
        _tool(path, name, unshare_error if name == "unshare" else None)
    path.mkdir(exist_ok=True)
    for name, value in (sysctls or {}).items():
        knob = proc / "sys" / name.replace(".", "/")
        knob.parent.mkdir(parents=True, exist_ok=True)
        knob.write_text(value + "\n")
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "uid_map").write_text(uid_map)
    (proc / "self" / "status").write_text("Name:\tpython\nCapEff:\t0000000000000000\n")
    etc.mkdir()
    (etc / "subuid").write_text(ranges)
    (etc / "subgid").write_text(ranges)
    return Host(proc=proc, etc=etc, path=str(path), uid=uid, user="alice")


def _reason(host: Host) -> Reason:
    found = unshare_reason(host)
    assert found is not None
    return found


def test_newuidmap_missing_names_the_package(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, tools=("unshare", "newgidmap")))
    assert found == "newuidmap is not installed" and "install the uidmap package" in found.fix


def test_debian_switch_off_names_the_sysctl(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, sysctls={"kernel.unprivileged_userns_clone": "0"}))
    assert "kernel.unprivileged_userns_clone=0" in found
    assert found.fix.startswith("sysctl kernel.unprivileged_userns_clone=1")


def test_ubuntu_apparmor_restriction_names_the_sysctl_or_a_profile(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, sysctls={"kernel.apparmor_restrict_unprivileged_userns": "1"},
                          unshare_error="unshare: cannot change root filesystem propagation: Permission denied"))
    assert found.startswith("AppArmor restricts unprivileged user namespaces")
    assert "Permission denied" in found
    assert "sysctl kernel.apparmor_restrict_unprivileged_userns=0" in found.fix and "userns," in found.fix


def test_apparmor_restriction_with_a_profile_that_allows_it_is_no_reason(tmp_path: Path) -> None:
    # The knob is on, but unshare works (a profile lets it): nothing to say.
    assert unshare_reason(_host(tmp_path, sysctls={"kernel.apparmor_restrict_unprivileged_userns": "1"})) is None


def test_no_user_namespaces_at_all(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, sysctls={"user.max_user_namespaces": "0"}))
    assert "user.max_user_namespaces=0" in found and found.fix.startswith("sysctl user.max_user_namespaces=")


@pytest.mark.parametrize("ranges", ["", "alice:100000:1000\n", "bob:100000:65536\n"])
def test_no_subordinate_range_gives_the_line_to_add(tmp_path: Path, ranges: str) -> None:
    found = _reason(_host(tmp_path, ranges=ranges))
    assert found == f"no range of 65536 subordinate ids for alice in {tmp_path / 'etc' / 'subuid'}"
    assert found.fix == ("add `alice:100000:65536` to /etc/subuid and /etc/subgid (usermod --add-subuids "
                         "100000-165535 --add-subgids 100000-165535 alice)")


def test_a_container_without_nested_namespaces(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, uid_map="0 1000 1\n1 100000 65536\n", unshare_error=EPERM))
    assert "Operation not permitted" in found
    assert found.fix.startswith("this runs in a container that does not allow nested user namespaces")
    assert "podman: --security-opt seccomp=unconfined" in found.fix and "docker: --privileged" in found.fix


def test_refused_on_the_host_itself_is_not_called_a_container(tmp_path: Path) -> None:
    found = _reason(_host(tmp_path, unshare_error=EPERM))  # the initial namespace, an ordinary user
    assert found.startswith("unshare failed") and "container" not in found.fix


def test_the_checks_go_in_order(tmp_path: Path) -> None:
    # Everything wrong at once: the first in the chain is what is said.
    found = _reason(_host(tmp_path, tools=("unshare",), sysctls={"user.max_user_namespaces": "0"}, ranges="",
                          unshare_error=EPERM))
    assert found == "newuidmap is not installed"


def test_a_host_that_allows_it(tmp_path: Path) -> None:
    assert unshare_reason(_host(tmp_path)) is None


def test_root_without_cap_sys_admin_is_no_root_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _host(tmp_path)  # CapEff 0: docker's root
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    found = runner._root_problem(host.proc)
    assert found is not None and "CAP_SYS_ADMIN" in found and "--privileged" in found.fix


# --- what auto mode says ---------------------------------------------------------------------

def test_auto_says_each_mode_passed_over_then_the_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    monkeypatch.setattr(runner, "unshare_unavailable", lambda user=None: Reason("newuidmap is not installed",
                                                                               "install the uidmap package"))
    said: list[str] = []
    assert detect_mode("auto", said.append) == "extract"
    assert said == ["mode: root is not possible: not running as root; run as root (sudo) for mode root",
                    "mode: unshare is not possible: newuidmap is not installed; install the uidmap package",
                    "mode: extract (maintainer scripts will not run)"]
    with pytest.raises(UsageError) as err:
        detect_mode("unshare", said.append)
    assert err.value.message == "mode unshare is not possible: newuidmap is not installed"
    assert err.value.hint is not None and err.value.hint.startswith("install the uidmap package; or use --mode extract")


def test_auto_chooses_unshare_after_saying_why_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    monkeypatch.setattr(runner, "unshare_unavailable", lambda user=None: None)
    said: list[str] = []
    assert detect_mode("auto", said.append) == "unshare"
    assert said == ["mode: root is not possible: not running as root; run as root (sudo) for mode root",
                    "mode: unshare (user namespaces with subordinate ids)"]


def test_inside_the_namespace_the_lines_from_outside_are_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(userns.MARKER, "line one\nline two")
    monkeypatch.setattr(userns, "initial_namespace", lambda proc=None: False)
    said: list[str] = []
    assert detect_mode("auto", said.append) == "unshare" and said == ["line one", "line two"]
    assert detect_mode("extract", said.append) == "extract"
    monkeypatch.setattr(userns, "initial_namespace", lambda proc=None: True)  # the marker alone is not enough
    assert not userns.inside()


# --- the real tools -------------------------------------------------------------------------

def test_container_reason_in_a_real_nested_namespace(tmp_path: Path) -> None:
    """As root of a user namespace that maps one id (a container's), with a range for root:
    newuidmap may not map ids the namespace does not have; the container line says so."""
    ranges = tmp_path / "ranges"
    ranges.write_text("root:100000:65536\n")
    probe = ("from bootstrap.sandbox.userns import unshare_reason; r = unshare_reason(); "
             "print(r); print(r.fix if r else '')")
    setup = (f"mount --bind {ranges} /etc/subuid && mount --bind {ranges} /etc/subgid && "
             f"exec unshare --user --map-root-user {sys.executable} -c \"{probe}\"")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    why, fix = done.stdout.splitlines()
    assert "Operation not permitted" in why, why
    assert fix.startswith("this runs in a container that does not allow nested user namespaces")


@dataclass
class Tiny:
    """The tiny archive: its URL and its keyring."""

    url: str
    keyring: Path


# Enough dpkg for `dpkg --configure -a` and `dpkg --audit`: every postinst, once.
FAKE_DPKG = """#!/bin/sh
[ "$1" = --configure ] || exit 0
for script in /var/lib/dpkg/info/*.postinst; do
    [ -e "$script" ] || continue
    "$script" configure || exit 1
done
"""
# The owners scripts set (mode root makes them real; mode unshare must too), up to the map's edge.
POSTINST = """#!/bin/sh
set -e
chown 0:42 /etc/tinyshadow
chmod 640 /etc/tinyshadow
mkdir -p /var/lib/tinyd
echo made > /var/lib/tinyd/state
chown 100:101 /var/lib/tinyd /var/lib/tinyd/state
chmod 2750 /var/lib/tinyd
: > /var/lib/tinyd/edge
chown 65535:65535 /var/lib/tinyd/edge
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiny]:
    if not BUSYBOX.exists() or shutil.which("apt-ftparchive") is None:
        pytest.skip("needs a static /bin/busybox and apt-ftparchive")
    work = tmp_path_factory.mktemp("rootless-repo")
    keyring = make_key(work / "gnupg")
    debs = [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
            files={"/bin/busybox": BUSYBOX.read_bytes(), "/usr/bin/dpkg": FAKE_DPKG.encode()},
            modes={"/bin/busybox": 0o755, "/usr/bin/dpkg": 0o755},
            symlinks={f"/bin/{name}": "busybox" for name in APPLETS}),
        Deb("tiny-shadow", fields={"Depends": "tiny-base"}, files={"/etc/tinyshadow": b"root:*:19000::::::\n"},
            scripts={"postinst": POSTINST}),
    ]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    with Server(work / "mirror") as server:
        yield Tiny(server.url, keyring)


@pytest.fixture(scope="module")
def home(tiny: Tiny) -> Iterator[Path]:
    """uid 65534's directory: the source tree, the keyring, /etc/subuid and /etc/subgid to bind."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("newuidmap") is None:
        pytest.skip("needs root (to become uid 65534 and bind /etc/subuid), setpriv and newuidmap")
    work = nobody.workdir()
    nobody.source_tree(work)
    shutil.copy(tiny.keyring, work / "keyring.gpg")
    for name, text in (("subuid", RANGE), ("subgid", RANGE), ("none", "")):
        (work / name).write_text(text)
    nobody.give(work)
    yield work
    shutil.rmtree(work, ignore_errors=True)


def _own_dir(home: Path, name: str) -> Path:
    """A fresh directory of uid 65534's under `home`."""
    path = home / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.chown(path, nobody.NOBODY, nobody.NOBODY)
    return path


def _as_nobody(home: Path, args: list[str], *, ranges: bool = True, tmp: Path | None = None
               ) -> subprocess.Popen[str]:
    """`rootfs-bootstrap ARGS` as uid 65534 with SOURCE_DATE_EPOCH, in a private mount namespace
    where /etc/subuid and /etc/subgid give it 65536 ids (or, without `ranges`, none)."""
    given = "subuid" if ranges else "none"
    setup = (f"mount --bind {home}/{given} /etc/subuid && mount --bind {home}/{given.replace('uid', 'gid')} "
             '/etc/subgid && exec "$@"')
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh", "setpriv",
               f"--reuid={nobody.NOBODY}", f"--regid={nobody.NOBODY}", "--clear-groups", str(nobody.venv()),
               "-m", "bootstrap", *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(home / "src"), "SOURCE_DATE_EPOCH": EPOCH,
           "TMPDIR": str(tmp or home)}
    return subprocess.Popen(command, cwd=home / "src", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _tiny_args(tiny: Tiny, keyring: Path, cache: Path, out: Path, *more: str) -> list[str]:
    return ["debian-bookworm", "--mirror", tiny.url, "--keyring", str(keyring), "--variant", "custom",
            "--include", "tiny-base,tiny-shadow", "--cache-dir", str(cache), "-o", str(out), *more]


def _done(proc: subprocess.Popen[str]) -> str:
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return stderr


def _as_root(args: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "bootstrap", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert done.returncode == 0, done.stderr
    return done.stderr


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _owners(tarball: Path) -> dict[str, tuple[int, int, int]]:
    with tarfile.open(tarball) as tar:
        return {m.name: (m.uid, m.gid, m.mode) for m in tar.getmembers()}


def test_without_a_range_unshare_is_refused_with_the_line_to_add(tiny: Tiny, home: Path) -> None:
    out = _own_dir(home, "refused")
    proc = _as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz",
                                       "--mode", "unshare"), ranges=False)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert stderr.splitlines() == [
        "error: mode unshare is not possible: no range of 65536 subordinate ids for nobody in /etc/subuid",
        "hint: add `nobody:100000:65536` to /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 "
        "--add-subgids 100000-165535 nobody); or use --mode extract (no maintainer scripts), or run as root"]
    assert not (out / "x.tar.gz").exists()


def test_without_a_range_auto_says_why_and_extracts(tiny: Tiny, home: Path) -> None:
    out = _own_dir(home, "auto-extract")
    stderr = _done(_as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz"),
                              ranges=False))
    modes = [line for line in stderr.splitlines() if line.startswith("I: mode: ")]
    assert modes == [
        "I: mode: root is not possible: not running as root; run as root (sudo) for mode root",
        "I: mode: unshare is not possible: no range of 65536 subordinate ids for nobody in /etc/subuid; add "
        "`nobody:100000:65536` to /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 "
        "--add-subgids 100000-165535 nobody)",
        "I: mode: extract (maintainer scripts will not run)"]
    assert _owners(out / "x.tar.gz")["./etc/tinyshadow"][:2] == (0, 0)  # no script ran


def test_unshare_tar_and_oci_are_mode_roots_bytes(tiny: Tiny, home: Path, tmp_path: Path) -> None:
    """The postinst's chowns (0:42, 100:101, 65535:65535 at the map's edge) reach the tar and the
    OCI layer exactly as in mode root; the output belongs to the user; auto says why not root."""
    _as_root(_tiny_args(tiny, tiny.keyring, tmp_path / "cache", tmp_path / "root.tar.gz", "--mode", "root"))
    # The same options (keyring, --mode auto, which picks root here): the image's lock and
    # annotations, hence its digest, are the same too.
    stderr = _as_root(_tiny_args(tiny, home / "keyring.gpg", tmp_path / "cache", tmp_path / "root-oci",
                                 "--format", "oci"))
    assert "mode root" in stderr.splitlines()[-1]
    out = _own_dir(home, "same-bytes")
    stderr = _done(_as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz",
                                               "--mode", "unshare")))
    assert "mode unshare" in stderr.splitlines()[-1]
    stderr = _done(_as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "oci",
                                               "--format", "oci")))
    assert [line for line in stderr.splitlines() if line.startswith("I: mode: ")] == [
        "I: mode: root is not possible: not running as root; run as root (sudo) for mode root",
        "I: mode: unshare (user namespaces with subordinate ids)"]
    owners = _owners(out / "x.tar.gz")
    assert owners["./etc/tinyshadow"] == (0, 42, 0o640)
    assert owners["./var/lib/tinyd"] == (100, 101, 0o2750) and owners["./var/lib/tinyd/edge"][:2] == (65535, 65535)
    assert _sha256(out / "x.tar.gz") == _sha256(tmp_path / "root.tar.gz")
    index = json.loads((out / "oci" / "index.json").read_text())
    assert index == json.loads((tmp_path / "root-oci" / "index.json").read_text())
    assert (out / "x.tar.gz").stat().st_uid == nobody.NOBODY


def test_unshare_directory_output_is_owned_as_inside(tiny: Tiny, home: Path) -> None:
    """A directory output keeps the namespace's owners: outside, 0 is the user and n is
    the range's start + n - 1."""
    out = _own_dir(home, "dir-output")
    # The slash makes it a directory output (a Path would drop it).
    _done(_as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz", "--mode",
                                      "unshare", "-o", f"{out}/root/")))
    shadow = (out / "root" / "etc" / "tinyshadow").stat()
    assert (shadow.st_uid, shadow.st_gid, stat.S_IMODE(shadow.st_mode)) == (nobody.NOBODY, 300000 + 41, 0o640)
    assert (out / "root" / "var/lib/tinyd").stat().st_uid == 300000 + 99


def _roots(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(".rootfs-bootstrap.*"))


def _wait_for(what: Callable[[], object], proc: subprocess.Popen[str]) -> None:
    """Until `what` holds; the build must still be running meanwhile (it waits in a hook)."""
    while not what():
        if proc.poll() is not None:
            raise AssertionError(f"the build ended first ({proc.returncode}): {proc.communicate()[1]}")
        time.sleep(0.05)


def _inner(outer: int) -> int:
    """The build in the namespace: the one child of the command line's process."""
    (pid,) = [int(p.name) for p in Path("/proc").iterdir()
              if p.name.isdigit() and _ppid(p) == outer]
    return pid


def _ppid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _running(marker: str) -> list[int]:
    """Processes whose command line is `sleep MARKER` (the hook's)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# A hook that leaves, in the root, a 0700 directory of a subordinate id (beyond the user's
# reach outside the namespace), then waits to be stopped.
HOOK = 'mkdir "$1/locked"; touch "$1/locked/f"; chown -R 42:42 "$1/locked"; chmod 700 "$1/locked"; ' \
       'touch "$1/waiting"; sleep {marker}'


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_reaches_the_build_in_the_namespace(tiny: Tiny, home: Path, signum: int) -> None:
    out = _own_dir(home, f"stop-{signum}")
    tmp = _own_dir(out, "tmp")
    marker = str(3000 + signum)
    proc = _as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz", "--mode",
                                       "unshare", "--hook-extract", HOOK.format(marker=marker)), tmp=tmp)
    _wait_for(lambda: any((r / "root" / "waiting").exists() for r in _roots(tmp)), proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith("I: ")]
    assert len(errors) == 1 and "nothing was written" in errors[0], stderr
    assert _roots(tmp) == [] and not (out / "x.tar.gz").exists()
    assert _running(marker) == []


def test_a_killed_build_leaves_no_root_and_no_process(tiny: Tiny, home: Path) -> None:
    out = _own_dir(home, "killed")
    tmp = _own_dir(out, "tmp")
    proc = _as_nobody(home, _tiny_args(tiny, home / "keyring.gpg", out / "cache", out / "x.tar.gz", "--mode",
                                       "unshare", "--hook-extract", HOOK.format(marker="3999")), tmp=tmp)
    _wait_for(lambda: any((r / "root" / "waiting").exists() for r in _roots(tmp)), proc)
    (root,) = _roots(tmp)
    assert (root / "root" / "locked").stat().st_uid == 300000 + 41  # not the user's to remove
    os.kill(_inner(proc.pid), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL, stderr
    assert stderr.splitlines()[-2:] == [
        "error: the build was killed by SIGKILL in its user namespace; its build root was removed",
        "hint: nothing was written"]
    assert _roots(tmp) == [] and not (out / "x.tar.gz").exists()
    assert _running("3999") == []  # the hook it left was ended too


# --- the real thing -------------------------------------------------------------------------

@pytest.mark.network
@pytest.mark.slow
def test_bookworm_minbase_unshare_as_nobody_is_byte_identical_to_root(home: Path, tmp_path: Path) -> None:
    """debian-bookworm minbase from the host's mirror, the same lock (so the same packages),
    the same SOURCE_DATE_EPOCH: mode root as root and mode unshare as uid 65534 give one
    sha256, and /etc/shadow is root:shadow in both."""
    if _mirror_reachable() is None:
        pytest.skip("the host's Debian mirror (from its apt sources) is not reachable")
    lock = tmp_path / "bookworm.lock"
    done = subprocess.run([sys.executable, "-m", "bootstrap", "lock", "debian-bookworm", "--variant", "minbase",
                           "--cache-dir", str(CACHE), "-o", str(lock)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    as_root = tmp_path / "root.tar.gz"
    _as_root(["debian-bookworm", "--lock", str(lock), "--mode", "root",
              "--cache-dir", str(CACHE), "-o", str(as_root)])
    out = _own_dir(home, "bookworm")
    shutil.copy(lock, out / "bookworm.lock")
    shutil.copytree(CACHE, out / "cache")  # warm, and the user's own
    nobody.give(out)
    stderr = _done(_as_nobody(home, ["debian-bookworm", "--lock", str(out / "bookworm.lock"),
                                     "--mode", "unshare", "--cache-dir", str(out / "cache"),
                                     "-o", str(out / "unshare.tar.gz")]))
    assert "mode unshare" in stderr.splitlines()[-1]
    print(f"sha256 root {_sha256(as_root)} unshare {_sha256(out / 'unshare.tar.gz')}")
    assert _owners(out / "unshare.tar.gz")["./etc/shadow"] == (0, 42, 0o640)
    assert _sha256(out / "unshare.tar.gz") == _sha256(as_root)
