"""What a build shows while it runs (issue 14, feedback): on a terminal a tqdm bar for every
phase that can take long (index, fetch, unpack, configure, pack); elsewhere a start line and a
done line with its time for every phase; with -q neither (warnings still). The real command
line runs against a tiny signed apt archive on 127.0.0.1, once under a pseudo-terminal and
once with pipes; the reporter's contract, the bars' units and the pack meter's totals are
checked in process. Nothing here depends on how fast anything runs."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.image import ImageSpec, LayoutWriter, Platform, split_layers
from bootstrap.pack import content_bytes, metered, write_output
from bootstrap.pack.tar import write_tar
from bootstrap.progress import TerminalProgress, terminal_progress
from bootstrap.report import NO_METER, Reporter, mib
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

REPO = Path(__file__).resolve().parents[2]
PHASES = ("profile", "index", "resolve", "fetch", "unpack", "configure", "cleanup", "pack")
SHAPE = ["--variant", "custom", "--include", "tiny-base,hello", "--mode", "extract"]


@dataclass(frozen=True)
class Archive:
    args: list[str]  # --mirror URL --keyring FILE


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    work = tmp_path_factory.mktemp("progress-archive")
    keyring = make_key(work / "gnupg")
    debs = [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
            files={"/bin/busybox": Path("/bin/busybox").read_bytes()}, modes={"/bin/busybox": 0o755},
            symlinks={"/bin/sh": "busybox"}),
        Deb("hello", fields={"Depends": "libhello (>= 1.0)"}, files={"/usr/bin/hello": b"#!/bin/sh\necho hi\n"},
            modes={"/usr/bin/hello": 0o755}),
        Deb("libhello", "1.0", files={"/usr/lib/libhello.so.1": b"v1"}),
    ]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    with Server(work / "mirror") as server:
        yield Archive(["--mirror", server.url, "--keyring", str(keyring)])


def _build_args(archive: Archive, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bootstrap", "build", "debian-bookworm", *archive.args, *SHAPE,
            "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "rootfs.tar.xz"), *extra]


def _on_terminal(args: list[str]) -> tuple[int, str]:
    """Run `args` with a 120-column pseudo-terminal as stdin, stdout and stderr; (exit code,
    everything it wrote there, `\\r` redraws included)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 600)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        code = proc.wait(timeout=600)
    return code, seen.decode(errors="replace")


def _screens(output: str) -> list[str]:
    """Every state a line of the terminal went through: tqdm redraws a bar after `\\r`."""
    return [part.strip() for part in re.split(r"[\r\n]+", output) if part.strip()]


def test_a_terminal_gets_a_bar_for_each_long_phase(archive: Archive, tmp_path: Path) -> None:
    code, output = _on_terminal(_build_args(archive, tmp_path))
    assert code == 0, output
    screens = _screens(output)
    for label, unit in (("index", r"\d+/\d+ repositories"), ("fetch", r"[\d.]+/[\d.]+ MiB"),
                        ("unpack", r"[\d.]+/[\d.]+ MiB"), ("pack", r"[\d.]+/[\d.]+ MiB")):
        bars = [s for s in screens if re.match(rf"{label}:\s+\d+%\|.*\| {unit} \[\d\d:\d\d<", s)]
        assert bars, f"no {label} bar in {screens}"
        assert re.match(rf"{label}:\s+100%\|", bars[-1]), bars[-1]  # drawn whole when it closes
    assert any(re.fullmatch(r"configure: \[\d\d:\d\d\]", s) for s in screens), screens  # time only
    assert "3/3 packages" in output  # the unpack bar's note
    for phase in PHASES:  # the bar stands in for the start line; the done line stays
        assert not any(s.startswith(f"I: {phase}: started") for s in screens), screens
        assert any(re.fullmatch(rf"I: {phase}: done in \d+\.\ds", s) for s in screens), phase
    assert " MB" not in output and "kB" not in output  # one unit: MiB


def test_without_a_terminal_each_phase_says_when_it_starts_and_ends(archive: Archive, tmp_path: Path) -> None:
    done = subprocess.run(_build_args(archive, tmp_path), capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "\r" not in done.stderr and "%|" not in done.stderr  # no bars in a log file
    for phase in PHASES:
        starts = [i for i, line in enumerate(lines) if line.startswith(f"I: {phase}: started")]
        ends = [i for i, line in enumerate(lines) if re.fullmatch(rf"I: {phase}: done in \d+\.\ds", line)]
        assert len(starts) == len(ends) == 1 and starts[0] < ends[0], (phase, lines)
    assert "I: profile: started: debian-bookworm" in lines
    assert "I: index: started: 2 repositories" in lines  # main and the (absent) updates
    assert "I: configure: started: 3 packages, mode extract" in lines
    assert f"I: pack: started: {tmp_path / 'rootfs.tar.xz'} (xz)" in lines
    sized = [line for line in lines if line.startswith(("I: fetch: started", "I: unpack: started"))]
    assert len(sized) == 2 and all(re.fullmatch(r"I: \w+: started: 3 packages, \d+\.\d MiB", s) for s in sized)
    order = [next(i for i, line in enumerate(lines) if line.startswith(f"I: {p}: started")) for p in PHASES]
    assert order == sorted(order)


def test_quiet_shows_no_phase_and_no_bar_but_warnings(archive: Archive, tmp_path: Path) -> None:
    code, output = _on_terminal(_build_args(archive, tmp_path, "-q", "--no-verify"))
    assert code == 0, output
    screens = _screens(output)
    assert screens and all(s.startswith("W: ") for s in screens), screens
    assert "%|" not in output and "\r" not in output.replace("\r\n", "\n")
    assert (tmp_path / "rootfs.tar.xz").is_file()


# -- the reporter's phase contract, in process ----------------------------------------------

class _Seen:
    """A Progress that records what it is asked: (label, total, unit), then the meter's calls."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.advanced = 0  # the sum of every advance

    def __call__(self, label: str, total: int | None, unit: str) -> _Seen:
        self.events.append(("start", label, total, unit))
        return self

    def advance(self, amount: int) -> None:
        self.events.append(("advance", amount))
        self.advanced += amount

    def note(self, text: str) -> None:
        self.events.append(("note", text))

    def close(self) -> None:
        self.events.append(("close",))


def test_a_phase_without_bars_starts_and_ends_with_a_line() -> None:
    lines: list[str] = []
    report = Reporter(lines.append)
    with report.phase("unpack", "3 packages, 1.0 MiB", total=3, unit="packages") as meter:
        assert meter is NO_METER
        meter.advance(3)
    assert lines[0] == "I: unpack: started: 3 packages, 1.0 MiB"
    assert re.fullmatch(r"I: unpack: done in \d+\.\ds", lines[1]) and len(lines) == 2
    with report.phase("cleanup"):
        pass
    assert lines[2] == "I: cleanup: started" and [name for name, _ in report.timings] == ["unpack", "cleanup"]


def test_with_bars_the_meter_replaces_the_start_line_and_is_closed_on_failure() -> None:
    lines: list[str] = []
    seen = _Seen()
    report = Reporter(lines.append, progress=seen)
    with report.phase("index", "2 repositories", total=2, unit="repositories") as meter:
        meter.note("main")
        meter.advance(1)
    assert seen.events == [("start", "index", 2, "repositories"), ("note", "main"), ("advance", 1), ("close",)]
    assert len(lines) == 1 and lines[0].startswith("I: index: done in ")
    with pytest.raises(KeyError), report.phase("configure", unit=""):
        raise KeyError("a script failed")
    assert seen.events[-2:] == [("start", "configure", None, ""), ("close",)]
    assert len(lines) == 1  # a failed phase is not "done"
    verbose = Reporter(lines.append, verbose=True, progress=seen)
    with verbose.phase("pack", "out.tar (tar)"):
        pass
    assert lines[1] == "I: pack: started: out.tar (tar)"  # -v says it on a terminal too


def test_bars_speak_mib_items_and_time() -> None:
    out = io.StringIO()
    bars = TerminalProgress(out)
    size = bars("pack", 3 * (1 << 20), "B")
    size.advance(1 << 20)
    size.close()
    items = bars("index", 4, "repositories")
    items.advance(4)
    items.note("updates")
    items.close()
    timer = bars("configure", None, "")
    timer.close()
    screens = _screens(out.getvalue())
    assert any(re.match(r"pack:\s+33%\|.*\| 1\.0/3\.0 MiB \[", s) for s in screens), screens
    assert any(re.match(r"index:\s+100%\|.*\| 4/4 repositories \[.*repositories/s, updates\]", s)
               for s in screens), screens
    assert "configure: [00:00]" in screens
    assert mib(42 * (1 << 20) + (1 << 19)) == "42.5 MiB"
    assert terminal_progress(io.StringIO()) is None  # not a terminal: no bars


# -- the pack meter: the bytes it counts are the total it announced -------------------------

def _tree(root: Path) -> Path:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_bytes(b"x" * 300_000)
    os.link(root / "usr/bin/tool", root / "usr/bin/alias")  # one inode: its bytes once
    (root / "etc").mkdir()
    (root / "etc/conf").write_bytes(b"y" * 1234)
    (root / "etc/link").symlink_to("conf")
    return root


def test_the_pack_meter_counts_the_content_it_announced(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    assert content_bytes(root) == 300_000 + 1234
    seen = _Seen()
    with metered(seen, root) as meter:
        assert meter is seen
        write_output(root, str(tmp_path / "out.tar.gz"), source_date_epoch=0)
    assert seen.events[0] == ("start", "pack", 301_234, "B") and seen.events[-1] == ("close",)
    assert seen.advanced == 301_234
    with metered(None, root) as nothing:  # no progress: no meter, no walk
        assert nothing is None
        write_tar(root, lambda data: None)


def test_an_image_with_layers_counts_each_file_once(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    layers = split_layers(root, [("tool", ["usr/bin/tool", "usr/bin/alias"]), ("conf", ["etc/conf"])], 3)
    seen = _Seen()
    with metered(seen, root), LayoutWriter(tmp_path / "image", "oci") as writer:
        writer.add(root, Platform("amd64"), ImageSpec(), epoch=0, layers=layers)
        writer.finish(["latest"])
    assert len(layers) == 3 and seen.advanced == content_bytes(root)
