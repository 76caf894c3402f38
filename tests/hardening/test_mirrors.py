"""One of two mirrors dead, dying or lying: the fetcher's failover (a FetchItem's `url`, then its
`alternates`), and real CLI builds given two mirrors (`--mirror A --mirror B`) where A is a
closed port, serves the index and then fails every package, or serves corrupt packages.

Fetcher cases use the scripted servers of test_fetch_faults.py with tiny retries and backoff;
the CLI cases use the signed apt archive of tests/apt/aptrepo.py and the vault-shaped yum
mirror of tests/yum/yumrepo.py, served as they are or through a spoiling front."""
from __future__ import annotations

import http.server
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bootstrap.errors import ChecksumError, FetchError, NoSpaceError
from bootstrap.fetch import Fetcher, FetchItem
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.hardening.test_fetch_faults import DATA, Scripted, assert_clean, cut, ok, one_line, sha256, status

BUSYBOX = Path("/bin/busybox")
REPO_ROOT = Path(__file__).resolve().parents[2]
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


def dead_url(path: str = "/x") -> str:
    """A URL on a port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Callable[[], Scripted]:
    def make() -> Scripted:
        srv = Scripted()
        request.addfinalizer(srv.stop)
        return srv
    return make


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def fetcher(tmp_path: Path, log: list[str]) -> Fetcher:
    f = Fetcher(tmp_path / "cache", retries=2, timeout=1.0, log=log.append,
                deadline_base=2.0, deadline_rate=1 << 20, min_rate=200, rate_window=0.3,
                retry_after_cap=0.3, rng=random.Random(7))
    f.backoff = 0.01
    return f


def item(url: str, *alternates: str, data: bytes = DATA) -> FetchItem:
    return FetchItem(url, sha256(data), len(data), "pkg=1.0", alternates)


def failovers(log: list[str]) -> list[str]:
    return [line for line in log if "failed for" in line and "trying" in line]


# -- the fetcher ----------------------------------------------------------------------------------

class TestFailover:
    def test_dead_mirror_then_good(self, servers: Callable[[], Scripted], fetcher: Fetcher,
                                   log: list[str]) -> None:
        good = servers()
        url = good.script("/p.rpm", ok(DATA))
        path = fetcher.get_file(item(dead_url("/p.rpm"), url))
        assert path.read_bytes() == DATA
        assert len(failovers(log)) == 1 and "Connection refused" in failovers(log)[0]
        assert_clean(fetcher.cache_dir)

    @pytest.mark.parametrize("steps", [
        [status(500)] * 3,
        [status(404)],
        [cut(DATA, 1000, reset=True)] * 3,
        [ok(bytes(reversed(DATA)))],
        [ok(DATA[:-1] + b"x")],
    ], ids=["500-after-retries", "404", "reset-every-time", "corrupt-copy", "one-byte-changed"])
    def test_failing_mirror_then_good(self, servers: Callable[[], Scripted], fetcher: Fetcher,
                                      log: list[str], steps: list) -> None:
        bad, good = servers(), servers()
        first = bad.script("/p", *steps)
        second = good.script("/p", ok(DATA))
        assert fetcher.get_file(item(first, second)).read_bytes() == DATA
        assert len(bad.hits("/p")) == len(steps) and len(good.hits("/p")) == 1
        assert len(failovers(log)) == 1
        assert_clean(fetcher.cache_dir)

    def test_second_of_three(self, servers: Callable[[], Scripted], fetcher: Fetcher,
                             log: list[str]) -> None:
        one, two, three = servers(), servers(), servers()
        urls = [one.script("/p", status(404)), two.script("/p", ok(DATA)), three.script("/p", ok(DATA))]
        assert fetcher.get_file(item(*urls)).read_bytes() == DATA
        assert three.hits("/p") == []

    def test_every_mirror_fails_one_bounded_line(self, servers: Callable[[], Scripted],
                                                 fetcher: Fetcher) -> None:
        bad = [servers() for _ in range(3)]
        urls = [dead_url("/p"), bad[0].script("/p", *[status(500)] * 3),
                bad[1].script("/p", status(404)), bad[2].script("/p", ok(b"x" * len(DATA))),
                dead_url("/p"), dead_url("/p")]
        with pytest.raises(FetchError) as info:
            fetcher.get_file(item(*urls))
        text = one_line(info.value)
        assert not isinstance(info.value, ChecksumError)
        assert "from any of 6 mirrors" in text and "and 2 more" in text and "pkg=1.0" in text
        for url, why in zip(urls[:4], ("Connection refused", "HTTP 500", "not found", "sha256 mismatch"),
                            strict=True):
            assert url in text and why in text
        assert len(text) < 1200
        assert_clean(fetcher.cache_dir)

    def test_every_copy_corrupt_is_a_checksum_error(self, servers: Callable[[], Scripted],
                                                    fetcher: Fetcher) -> None:
        a, b = servers(), servers()
        urls = [a.script("/p", ok(b"a" * len(DATA))), b.script("/p", ok(b"b" * len(DATA)))]
        with pytest.raises(ChecksumError) as info:
            fetcher.get_file(item(*urls))
        assert "from any of 2 mirrors" in one_line(info.value)

    def test_one_url_error_unchanged(self, servers: Callable[[], Scripted], fetcher: Fetcher) -> None:
        srv = servers()
        with pytest.raises(FetchError) as info:
            fetcher.get_file(item(srv.script("/p", status(404))))
        assert str(info.value).endswith("/p: not found")

    def test_dead_mirror_tried_last_for_later_files(self, servers: Callable[[], Scripted],
                                                    fetcher: Fetcher, log: list[str]) -> None:
        flaky, good = servers(), servers()
        names = [f"/p{n}" for n in range(4)]
        files = [DATA + bytes([n]) for n in range(4)]  # four files: none served from the cache
        items = [item(flaky.script(n, *[status(503)] * 3), good.script(n, ok(data)), data=data)
                 for n, data in zip(names, files, strict=True)]
        fetcher.jobs = 1
        assert [p.read_bytes() for p in fetcher.get_many(items)] == files
        # The first file paid the mirror's retries; the others went to the good mirror first.
        assert [len(flaky.hits(n)) for n in names] == [3, 0, 0, 0]
        assert len(failovers(log)) == 1

    def test_mirror_missing_one_file_is_not_demoted(self, servers: Callable[[], Scripted],
                                                    fetcher: Fetcher) -> None:
        first, second = servers(), servers()
        fetcher.jobs = 1
        other = bytes(reversed(DATA))  # another file: not served from the cache
        items = [item(first.script("/a", status(404)), second.script("/a", ok(DATA))),
                 item(first.script("/b", ok(other)), second.script("/b", ok(other)), data=other)]
        fetcher.get_many(items)
        assert len(first.hits("/b")) == 1 and second.hits("/b") == []

    def test_full_cache_is_not_a_mirror_failure(self, servers: Callable[[], Scripted],
                                                fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch) -> None:
        a, b = servers(), servers()
        urls = [a.script("/p", ok(DATA)), b.script("/p", ok(DATA))]

        def full(self: object, chunk: bytes) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("bootstrap.fetch.transfer._State.add", full)
        with pytest.raises(NoSpaceError) as info:
            fetcher.get_file(item(*urls))
        assert "download cache" in str(info.value) and info.value.hint
        assert b.hits("/p") == []  # the second mirror was never asked
        assert_clean(fetcher.cache_dir)


# -- real builds with two mirrors -----------------------------------------------------------------

class Front(http.server.SimpleHTTPRequestHandler):
    """A mirror that serves `directory` as it is, except for package downloads (paths with one
    of `spoiled` in them): `mode` "500" answers them HTTP 500, "corrupt" serves them with a byte
    changed. `hits` counts the package requests."""

    mode = "500"
    spoiled: tuple[str, ...] = ("/pool/", "/RPMS/")
    hits: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not any(part in self.path for part in self.spoiled):
            super().do_GET()
            return
        self.hits.append(self.path)
        if self.mode == "500":
            self.send_error(500)
            return
        body = bytearray(Path(self.translate_path(self.path)).read_bytes())
        body[len(body) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(bytes(body))


@pytest.fixture
def front() -> Iterator[Callable[[Path, str], tuple[str, list[str]]]]:
    """front(directory, mode) → (url, the package paths it was asked for)."""
    started: list[http.server.ThreadingHTTPServer] = []

    def make(directory: Path, mode: str) -> tuple[str, list[str]]:
        hits: list[str] = []
        handler = type("Spoiled", (Front,), {"mode": mode, "hits": hits})
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(directory), **k))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}", hits
    yield make
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(url, keyring, directory) of a signed apt archive: busybox as tiny-base, and hello."""
    if shutil.which("apt-ftparchive") is None or not BUSYBOX.exists():
        pytest.skip("needs apt-ftparchive (apt-utils) and busybox-static")
    work = tmp_path_factory.mktemp("mirrors")
    keyring = make_key(work / "gnupg")
    debs = [Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
                files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
                symlinks={"/bin/sh": "busybox"}),
            Deb("hello", fields={"Depends": "tiny-base"}, files={"/usr/share/hello/README": b"hi\n"})]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    from tests.server import Server

    with Server(work / "mirror") as server:
        yield server.url, keyring, work / "mirror"


def _cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS} | {"TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300)


def _apt(archive: tuple[str, Path, Path], tmp_path: Path, *mirrors: str) -> subprocess.CompletedProcess[str]:
    _, keyring, _ = archive
    tmp_path.joinpath("tmp").mkdir(exist_ok=True)
    argv = ["debian-bookworm", *[a for m in mirrors for a in ("--mirror", m)], "--keyring", str(keyring),
            "--cache-dir", str(tmp_path / "cache"), "--variant", "custom", "--include", "hello",
            "--mode", "extract", "-o", str(tmp_path / "out.tar")]
    return _cli(*argv, tmp=tmp_path / "tmp")


def _members(out: Path) -> set[str]:
    with tarfile.open(out) as tar:
        return {m.name.removeprefix("./") for m in tar.getmembers()}


def _assert_built(done: subprocess.CompletedProcess[str], out: Path) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "usr/share/hello/README" in _members(out)


class TestAptTwoMirrors:
    def test_first_mirror_dead(self, archive: tuple[str, Path, Path], tmp_path: Path) -> None:
        done = _apt(archive, tmp_path, dead_url(""), archive[0])
        _assert_built(done, tmp_path / "out.tar")
        assert "connection refused" in done.stderr.lower() and f"trying {archive[0]}" in done.stderr

    def test_first_mirror_fails_every_package(self, archive: tuple[str, Path, Path], tmp_path: Path,
                                              front: Callable[[Path, str], tuple[str, list[str]]]) -> None:
        url, hits = front(archive[2], "500")
        done = _apt(archive, tmp_path, url, archive[0])
        _assert_built(done, tmp_path / "out.tar")
        assert hits, "the first mirror served the index, then was asked for packages"
        assert "mirror 1/2 failed" in done.stderr and "HTTP 500" in done.stderr



def _yum(vault, tmp_path: Path, *mirrors: str) -> subprocess.CompletedProcess[str]:
    tmp_path.joinpath("tmp").mkdir(exist_ok=True)
    argv = ["centos4.3", *[a for m in mirrors for a in ("--mirror", m)], "--keyring", str(vault.key),
            "--cache-dir", str(tmp_path / "cache"), "--variant", "custom", "--include", "hello",
            "--mode", "extract", "-o", str(tmp_path / "out.tar")]
    return _cli(*argv, tmp=tmp_path / "tmp")


class TestYumTwoBaseurls:
    def test_first_baseurl_dead(self, vault, tmp_path: Path) -> None:
        done = _yum(vault, tmp_path, dead_url(""), vault.url)
        assert done.returncode == 0, done.stderr
        assert "usr/bin/hello" in _members(tmp_path / "out.tar")
        assert "unreachable" in done.stderr and "trying the next mirror" in done.stderr

    @pytest.mark.parametrize("mode", ["500", "corrupt"])
    def test_first_baseurl_fails_every_package(self, vault, tmp_path: Path,
                                               front: Callable[[Path, str], tuple[str, list[str]]],
                                               mode: str) -> None:
        url, hits = front(vault.top, mode)
        done = _yum(vault, tmp_path, url, vault.url)
        assert done.returncode == 0, done.stderr
        assert "usr/bin/hello" in _members(tmp_path / "out.tar")
        # The first baseurl fails a package, or (500) already the RPMS/ listing that the probe of
        # the repositories without repodata/ asks for: it is then known down for the rest of the
        # run, and every package comes from the second.
        probed = "down earlier in this run" in done.stderr
        assert hits and ("mirror 1/2 failed" in done.stderr or probed)
        assert ("HTTP 500" if mode == "500" else "mismatch") in done.stderr or (probed and mode == "corrupt")
