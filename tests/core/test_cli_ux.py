"""What a person sees at the command line (issue 14): the design card's command without -o,
a real list of subcommands with "did you mean", data for scripts (--json, --print-uris,
--dry-run), --components, list filters and vendor aliases, shell completion, the man pages,
the exit codes, and the output and space checks made before any download. Builds run against
the tiny archive of tests/tinyarchive.py on 127.0.0.1."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.config import Overrides, load_profile
from bootstrap.errors import ConfigError
from tests.tinyarchive import SHAPE, Archive, tiny_archive

REPO = Path(__file__).resolve().parents[2]
DEAD = ["--mirror", "http://127.0.0.1:9/", "--keyring", "/dev/null"]  # port 9: nothing listens


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with tiny_archive(tmp_path / "archive") as served:
        yield served


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, cwd=cwd,
                          env=environ, timeout=600)


def test_the_cards_command_without_o_writes_profile_tar_gz(archive: Archive, tmp_path: Path) -> None:
    done = run("debian-bookworm", *archive.args, *SHAPE, "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no -o given: writing ./debian-bookworm.tar.gz" in done.stderr
    assert (tmp_path / "debian-bookworm.tar.gz").is_file() and (tmp_path / "debian-bookworm.spdx.json").is_file()
    summary = done.stderr.strip().splitlines()[-1]
    assert re.search(r"wrote (\./)?debian-bookworm\.tar\.gz, 3 packages, [\d.]+ MiB, sha256:[0-9a-f]{64}, "
                     r"in [\d.]+s, mode extract; sbom \S+\.spdx\.json", summary), summary
    alias = run("debian12", *archive.args, *SHAPE, "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert alias.returncode == 0 and (tmp_path / "debian12.tar.gz").is_file()  # the profile as typed


@pytest.mark.parametrize(("word", "close"), [("lokc", "lock"), ("completoin", "completion"), ("debain", "debian")])
def test_an_unknown_first_word_is_neither_command_nor_profile(word: str, close: str) -> None:
    done = run(word)
    assert done.returncode == 2 and "Missing" not in done.stderr
    assert f"error: no such command or profile '{word}'" in done.stderr
    assert re.search(rf"hint: did you mean {close}\b", done.stderr), done.stderr


def test_bare_vendor_names_are_their_newest_release() -> None:
    newest = {"debian": "debian-trixie", "ubuntu": "ubuntu-resolute", "centos": "centos8.5", "fedora": "fedora42",
              "alpine": "alpine3.23", "rocky": "rocky9", "alma": "alma9"}
    assert {word: load_profile(word, Overrides(mirror="http://127.0.0.1:9/")).name for word in newest} == newest


def test_list_filters_families_and_variants() -> None:
    centos = run("list", "centos").stdout.splitlines()
    assert centos and all("centos" in line.lower() for line in centos)
    apk = run("list", "--family", "apk").stdout.splitlines()
    assert apk and all(line.split()[1] == "apk" for line in apk)
    variants = {line.split()[0]: line.split()[2:] for line in run("list", "--variants").stdout.splitlines()}
    assert variants["debian-bookworm"] == ["minbase", "buildd", "default*", "custom"]


def test_components_replace_the_profiles_for_apt_only() -> None:
    profile = load_profile("debian-bookworm", Overrides(mirror="http://127.0.0.1:9/",
                                                        components=("main", "contrib", "non-free-firmware")))
    assert {r.components for r in profile.repositories} == {("main", "contrib", "non-free-firmware")}
    with pytest.raises(ConfigError, match="has no archive components"):
        load_profile("centos7", Overrides(mirror="http://127.0.0.1:9/", components=("main",)))


def test_resolve_and_build_give_json_print_uris_and_dry_run(archive: Archive, tmp_path: Path) -> None:
    common = [*archive.args, *SHAPE, "--cache-dir", str(tmp_path / "c")]
    plan = json.loads(run("resolve", "debian-bookworm", *archive.args, *SHAPE[:4], "--json").stdout)
    assert sorted(p["name"] for p in plan["packages"]) == ["hello", "libhello", "tiny-base"]
    assert all(p["url"].startswith(archive.url) and p["size"] > 0 and p["checksums"]["sha256"]
               for p in plan["packages"])
    uris = run("build", "debian-bookworm", *common, "--print-uris", "-o", str(tmp_path / "x.tar.gz")).stdout
    assert re.fullmatch(r"('\S+\.deb' \S+\.deb \d+ SHA(256|512):[0-9a-f]+\n){3}", uris), uris  # the strongest
    dry = run("build", "debian-bookworm", *common, "--dry-run", "-o", str(tmp_path / "x.tar.gz"))
    assert dry.returncode == 0 and "dry run: would install 3 packages" in dry.stderr
    assert not (tmp_path / "x.tar.gz").exists() and not list((tmp_path / "c").rglob("*.deb"))
    built = run("build", "debian-bookworm", *common, "--json", "-o", str(tmp_path / "y.tar.gz"))
    doc = json.loads(built.stdout)
    assert doc["mode"] == "extract" and len(doc["packages"]) == 3
    (out,) = doc["outputs"]
    import hashlib

    assert out["digest"] == "sha256:" + hashlib.sha256((tmp_path / "y.tar.gz").read_bytes()).hexdigest()


def test_shell_completion_knows_profiles_and_variants() -> None:
    script = run("completion", "bash").stdout
    assert "_ROOTFS_BOOTSTRAP_COMPLETE" in script and "complete " in script

    def complete(words: str, cword: int) -> list[str]:
        env = {"_ROOTFS_BOOTSTRAP_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        return [line.split(",", 1)[1] for line in run(env=env).stdout.splitlines()]

    assert {"debian-bookworm", "debian-bullseye"} <= set(complete("rootfs-bootstrap debian-b", 1))
    assert {"list", "lock"} <= set(complete("rootfs-bootstrap l", 1))
    assert complete("rootfs-bootstrap alpine3.16 --variant ", 3) == ["custom", "default", "index"]


def test_the_man_pages_are_current(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import man  # tools/man.py
    finally:
        sys.path.remove(str(REPO / "tools"))
    fresh = {p.name: p.read_text() for p in man.write(tmp_path)}
    kept = {p.name: p.read_text() for p in (REPO / "man").glob("*.1")}
    assert fresh == kept, "run `make man` and commit man/"
    assert "Exit codes" in kept["rootfs-bootstrap.1"] and "--print-uris" in kept["rootfs-bootstrap-build.1"]


def test_exit_codes_are_in_the_help_and_the_readme() -> None:
    helped = run("--help").stdout
    readme = (REPO / "README.md").read_text()
    for code in ("2", "3", "4", "5", "6", "7", "8", "9", "10", "130"):
        assert re.search(rf"^\s+{code}\s", helped, re.M), code
        assert re.search(rf"^\| {code} \|", readme, re.M), code


def test_outputs_are_refused_before_any_download(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    layout.mkdir()
    (layout / "oci-layout").write_text("{}")
    done = run("build", "debian-bookworm", *DEAD, "--format", "oci", "-o", str(layout))
    assert done.returncode == 8 and "an OCI image layout is there already" in done.stderr, done.stderr
    missing = run("build", "debian-bookworm", *DEAD, "-o", str(tmp_path / "nope" / "x.tar.gz"))
    assert missing.returncode == 8 and "does not exist" in missing.stderr
    directory = run("build", "debian-bookworm", *DEAD, "-o", str(tmp_path))
    assert directory.returncode == 8 and "it is a directory" in directory.stderr


def test_a_tar_stream_to_a_terminal_is_refused_before_any_download() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: standard output is the terminal
        os.environ["PYTHONPATH"] = str(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "bootstrap", "build", "debian-bookworm", *DEAD, "-o", "-"])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 8
    assert b"refusing to write a tarball to a terminal" in seen and b"127.0.0.1:9" not in seen


def test_a_small_tmpdir_is_named_before_the_download(archive: Archive, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        done = run("build", "debian-bookworm", *archive.args, *SHAPE, "--cache-dir", str(tmp_path / "c"),
                   "-o", str(tmp_path / "x.tar.gz"), env={"TMPDIR": str(small)})
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert done.returncode == 9, done.stderr
    assert f"not enough space for the build root in {small} (TMPDIR)" in done.stderr
    assert "(None)" not in done.stderr and "set TMPDIR" in done.stderr
    assert not list((tmp_path / "c").rglob("*.deb"))  # nothing was downloaded


def test_mode_root_as_a_user_fails_before_the_index_is_read(tmp_path: Path) -> None:
    from tests import nobody

    work = nobody.workdir()
    try:
        tree = nobody.source_tree(work)
        nobody.give(work)
        done = nobody.run(["build", "debian-bookworm", "--mirror", "http://127.0.0.1:9/", "--mode", "root",
                           "-o", str(work / "x.tar.gz")], work, tree)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert "mode root is not possible" in done.stderr and "index" not in done.stderr, done.stderr
