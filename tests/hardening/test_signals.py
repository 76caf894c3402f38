"""SIGTERM and SIGHUP end a real `python -m bootstrap` build as Ctrl-C does, in every phase:
exit 128 + the signal, one line on stderr, no build root left in TMPDIR, nothing mounted under
it, no output and no partial output. A build killed outright (SIGKILL) leaves its root behind;
the next build removes it, mounts first, and never touches the root of a build still running.
"""
from __future__ import annotations

import http.server
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "ls", "cat", "echo", "touch", "head")
PREFIX = ".rootfs-bootstrap."
pytestmark = [
    pytest.mark.skipif(shutil.which("apt-ftparchive") is None or shutil.which("gpg") is None,
                       reason="needs apt-ftparchive (apt-utils) and gpg"),
    pytest.mark.skipif(not BUSYBOX.exists(), reason="needs a static /bin/busybox (busybox-static)"),
]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mode root needs root")


class _Mirror(http.server.SimpleHTTPRequestHandler):
    """Serves the archive; a package download (pool/) trickles a byte every 50 ms until the
    test lets it go: a download in progress. (A server that sends nothing at all is another
    matter: the fetcher's pool waits for its read timeout; see the report.)"""

    started: threading.Event
    release: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if "/pool/" not in self.path or self.release.is_set():
            super().do_GET()
            return
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.started.set()
        sent = 0
        try:
            while sent < len(body) - 1 and not self.release.is_set():
                self.wfile.write(body[sent:sent + 1])
                self.wfile.flush()
                sent += 1
                time.sleep(0.05)
            self.wfile.write(body[sent:])
        except OSError:
            pass  # the client went away


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, type[_Mirror]]]:
    """(url, keyring, handler class) of a signed archive whose package downloads can be held."""
    work = tmp_path_factory.mktemp("sigrepo")
    keyring = make_key(work / "gnupg")
    debs = [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
            files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
            symlinks={f"/bin/{name}": "busybox" for name in APPLETS}),
        # Holds configure: its preinst marks that it started, then waits.
        Deb("slow-preinst", fields={"Depends": "tiny-base"},
            scripts={"preinst": "#!/bin/sh\ntouch /configure-started\nsleep 60\n"}),
    ]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    class handler(_Mirror):  # a fresh class: the events are this module's own
        started = threading.Event()
        release = threading.Event()

    handler.release.set()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(work / "mirror"), **k))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", keyring, handler
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()


def _start(archive, tmp_path: Path, out: Path, *extra: str, include: str = "tiny-base",
           mode: str = "extract") -> subprocess.Popen[str]:
    url, keyring, _ = archive
    env = {**os.environ, "TMPDIR": str(_tmpdir(tmp_path)), "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bootstrap", "debian-bookworm", "--mirror", url, "--keyring", str(keyring),
         "--cache-dir", str(tmp_path / "cache"), "--variant", "custom", "--include", include,
         "--mode", mode, "-o", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=Path(__file__).resolve().parents[2])


def _tmpdir(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir(exist_ok=True)
    return path


def _roots(tmp_path: Path) -> list[Path]:
    return sorted(_tmpdir(tmp_path).glob(PREFIX + "*"))


def _mounted_under(path: Path) -> list[str]:
    base = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as table:
        return [line.split()[1] for line in table if line.split()[1].startswith(base)]


def _wait_for(what: Callable[[], object], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if proc.poll() is not None:
            raise AssertionError(f"the build ended first ({proc.returncode}): {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the phase never started")
        time.sleep(0.02)


def _in_any_root(tmp_path: Path, rel: str) -> Callable[[], bool]:
    return lambda: any((r / "root" / rel).exists() for r in _roots(tmp_path))


def _assert_clean_stop(proc: subprocess.Popen[str], signum: int, tmp_path: Path, out: Path) -> str:
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler: where it hangs, in the message below
        time.sleep(1)
        proc.kill()
        raise AssertionError(f"the build did not stop within 30 s: {proc.communicate()[1]}") from None
    assert proc.returncode == 128 + signum, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith("I: ")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "nothing was written" in errors[0], stderr
    assert signal.Signals(signum).name in errors[0]
    assert _roots(tmp_path) == []
    assert _mounted_under(_tmpdir(tmp_path)) == []
    assert not out.exists()
    assert list(out.parent.glob(f".{out.name}.tmp-*")) == []
    return errors[0]


SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


@pytest.mark.parametrize("signum", SIGNALS)
def test_signal_during_fetch(archive, tmp_path: Path, signum: int) -> None:
    _, _, handler = archive
    handler.started.clear()
    handler.release.clear()
    try:
        out = tmp_path / "out.tar.gz"
        proc = _start(archive, tmp_path, out)
        _wait_for(handler.started.is_set, proc)
        _assert_clean_stop(proc, signum, tmp_path, out)
    finally:
        handler.release.set()


@pytest.mark.parametrize("signum", SIGNALS)
def test_signal_after_unpack_in_hook_extract(archive, tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out.tar.gz"
    proc = _start(archive, tmp_path, out, "--hook-extract", 'touch "$1/unpacked"; sleep 60')
    _wait_for(_in_any_root(tmp_path, "unpacked"), proc)
    _assert_clean_stop(proc, signum, tmp_path, out)


@needs_root
@pytest.mark.parametrize("signum", SIGNALS)
def test_signal_during_configure_releases_the_mounts(archive, tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out.tar.gz"
    proc = _start(archive, tmp_path, out, include="tiny-base,slow-preinst", mode="root")
    _wait_for(_in_any_root(tmp_path, "configure-started"), proc)
    assert len(_mounted_under(_tmpdir(tmp_path))) >= 5  # the chroot's mounts are there now
    _assert_clean_stop(proc, signum, tmp_path, out)
    time.sleep(0.2)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "sleep60"]


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_bytes().replace(b"\0", b"").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize("suffix", ["tar.gz", "tar.xz", "tar"])
@pytest.mark.parametrize("signum", SIGNALS)
def test_signal_during_pack_leaves_no_partial_output(archive, tmp_path: Path, signum: int, suffix: str) -> None:
    out = tmp_path / f"out.{suffix}"  # incompressible data: seconds of packing to interrupt
    proc = _start(archive, tmp_path, out, "--hook-customize", 'head -c 300000000 /dev/urandom > "$1/big"')
    _wait_for(lambda: list(tmp_path.glob(f".out.{suffix}.tmp-*")), proc)
    time.sleep(0.2)
    _assert_clean_stop(proc, signum, tmp_path, out)


def test_build_root_is_private_while_built_and_output_keeps_root_mode(archive, tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    proc = _start(archive, tmp_path, out, "--hook-extract", 'touch "$1/unpacked"; sleep 1')
    _wait_for(_in_any_root(tmp_path, "unpacked"), proc)
    (holder,) = _roots(tmp_path)
    assert stat.S_IMODE(holder.stat().st_mode) == 0o700
    assert stat.S_IMODE((holder / "root").stat().st_mode) == 0o755
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    with tarfile.open(out) as tar:
        top = tar.getmember(".")
    assert top.isdir() and top.mode == 0o755 and (top.uid, top.gid) == (0, 0)
    assert _roots(tmp_path) == []


@needs_root
def test_root_of_a_killed_build_is_removed_by_the_next(archive, tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    proc = _start(archive, tmp_path, out, include="tiny-base,slow-preinst", mode="root")
    _wait_for(_in_any_root(tmp_path, "configure-started"), proc)
    proc.kill()
    proc.communicate()
    (stale,) = _roots(tmp_path)
    assert len(_mounted_under(stale)) >= 5  # SIGKILL: nobody released them
    # The scripts died with the build (its namespace ended with unshare).
    time.sleep(0.5)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "sleep60"]
    again = _start(archive, tmp_path, out)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert "left by a build that was killed" in stderr
    assert _roots(tmp_path) == [] and _mounted_under(_tmpdir(tmp_path)) == []
    assert out.exists()


def test_root_of_a_running_build_is_left_alone(archive, tmp_path: Path) -> None:
    first_out, second_out = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    first = _start(archive, tmp_path, first_out, "--hook-extract", 'touch "$1/unpacked"; sleep 60')
    try:
        _wait_for(_in_any_root(tmp_path, "unpacked"), first)
        (running,) = _roots(tmp_path)
        second = _start(archive, tmp_path, second_out)
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 0, stderr
        assert "left by a build that was killed" not in stderr
        assert _roots(tmp_path) == [running] and (running / "root" / "unpacked").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 143 and _roots(tmp_path) == []


def test_sigkill_leftover_without_mounts_is_removed(archive, tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    proc = _start(archive, tmp_path, out, "--hook-extract", 'touch "$1/unpacked"; sleep 60')
    _wait_for(_in_any_root(tmp_path, "unpacked"), proc)
    proc.kill()
    proc.communicate()
    assert len(_roots(tmp_path)) == 1
    again = _start(archive, tmp_path, out)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert _roots(tmp_path) == []


def test_unlocked_directory_without_owner_is_left_alone(archive, tmp_path: Path) -> None:
    # A root made by a version of the tool that takes no lock (maybe still running), or one
    # being set up: not provably stale, so never removed.
    legacy = _tmpdir(tmp_path) / (PREFIX + "legacy")
    (legacy / "etc").mkdir(parents=True)
    (legacy / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    out = tmp_path / "out.tar.gz"
    done = _start(archive, tmp_path, out)
    _, stderr = done.communicate(timeout=120)
    assert done.returncode == 0, stderr
    assert _roots(tmp_path) == [legacy] and (legacy / "etc" / "passwd").exists()
