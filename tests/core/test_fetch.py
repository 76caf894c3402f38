"""bootstrap.fetch.fetcher against a real HTTP server (and a tiny proxy) on 127.0.0.1, both stopped by fixtures."""
from __future__ import annotations

import gzip
import hashlib
import io
import multiprocessing
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.errors import ChecksumError, FetchError
from bootstrap.fetch import Fetcher, FetchItem, default_cache_dir
from bootstrap.progress import terminal_progress
from bootstrap.types import Checksum

PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


def sha256(data: bytes) -> tuple[Checksum, ...]:
    return (Checksum("sha256", hashlib.sha256(data).hexdigest()),)


class Server:
    """A mirror: `files` by path; `fail[path]` statuses served first; `delay[path]` seconds."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        self.truncate: set[str] = set()   # paths whose next response is cut short
        self.gzip_encoded: set[str] = set()  # paths served with Content-Encoding: gzip
        self.trickle: set[str] = set()  # paths served 64 KiB every 50 ms
        self.hits: Counter[str] = Counter()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.hits[self.path] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.respond(self)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        return Handler

    def respond(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path
        time.sleep(self.delay.get(path, 0.0))
        if self.fail.get(path):
            req.send_error(self.fail[path].pop(0))
            return
        if path not in self.files:
            req.send_error(404)
            return
        data = self.files[path]
        req.send_response(200)
        req.send_header("Content-Length", str(len(data)))
        if path in self.gzip_encoded:
            req.send_header("Content-Encoding", "gzip")
        req.end_headers()
        if path in self.truncate:
            self.truncate.discard(path)
            req.wfile.write(data[: len(data) // 2])
            req.close_connection = True
            return
        if path in self.trickle:
            try:
                for start in range(0, len(data), 1 << 16):
                    req.wfile.write(data[start:start + (1 << 16)])
                    req.wfile.flush()
                    time.sleep(0.05)
            except OSError:  # the client hung up, as a cancelled download does
                pass
            return
        req.wfile.write(data)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 directly unless a test sets a proxy itself."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Server:
    srv = Server()
    srv.thread.start()

    def stop() -> None:
        srv.httpd.shutdown()
        srv.httpd.server_close()

    request.addfinalizer(stop)
    return srv


@pytest.fixture
def fetcher(tmp_path: Path) -> Fetcher:
    f = Fetcher(tmp_path / "cache", retries=2, timeout=5)
    f.backoff = 0.01
    return f


def leftovers(cache: Path) -> list[Path]:
    return list(cache.rglob(".part-*"))


def test_good_fetch(server: Server, fetcher: Fetcher) -> None:
    data = b"package payload\n" * 1000
    url = server.add("/pool/a.deb", data)
    path = fetcher.get_file(FetchItem(url, sha256(data), len(data), "a"))
    assert path.read_bytes() == data
    assert path == fetcher.cache_dir / "by-sha256" / hashlib.sha256(data).hexdigest()
    assert fetcher.get_bytes(url) == data
    assert fetcher.try_get_bytes(url) == data
    assert leftovers(fetcher.cache_dir) == []


def test_strongest_checksum_decides(server: Server, fetcher: Fetcher) -> None:
    data = b"x" * 100
    url = server.add("/f", data)
    good_sha512 = Checksum("SHA512", hashlib.sha512(data).hexdigest())
    # A wrong weaker digest is not consulted when a stronger one is given...
    assert fetcher.get_bytes(url, (Checksum("md5", "0" * 32), good_sha512)) == data
    # ...and a right weaker digest does not excuse a wrong stronger one.
    with pytest.raises(ChecksumError):
        fetcher.get_bytes(url, (Checksum("md5", hashlib.md5(data).hexdigest()),
                                Checksum("sha256", "0" * 64)))


def test_checksum_mismatch(server: Server, fetcher: Fetcher) -> None:
    url = server.add("/pool/b.deb", b"what the mirror has")
    wanted = hashlib.sha256(b"what the index says").hexdigest()
    with pytest.raises(ChecksumError) as info:
        fetcher.get_file(FetchItem(url, (Checksum("sha256", wanted),)))
    msg = str(info.value)
    assert url in msg and wanted in msg and hashlib.sha256(b"what the mirror has").hexdigest() in msg
    assert "mid-sync" in (info.value.hint or "")
    assert not (fetcher.cache_dir / "by-sha256" / wanted).exists()
    assert leftovers(fetcher.cache_dir) == []
    assert server.hits["/pool/b.deb"] == 1  # a bad digest is not a transient failure


@pytest.mark.parametrize("size", [10, 1000])
def test_size_mismatch(server: Server, fetcher: Fetcher, size: int) -> None:
    data = b"y" * 100
    url = server.add("/s", data)
    with pytest.raises(ChecksumError, match="size mismatch"):
        fetcher.get_file(FetchItem(url, sha256(data), size))
    with pytest.raises(ChecksumError, match="size mismatch"):
        fetcher.get_bytes(url, (), size)
    assert leftovers(fetcher.cache_dir) == []


def test_not_found(server: Server, fetcher: Fetcher) -> None:
    url = server.url("/dists/nope/InRelease")
    assert fetcher.try_get_bytes(url) is None
    with pytest.raises(FetchError, match="not found"):
        fetcher.get_bytes(url)
    with pytest.raises(FetchError, match="not found"):
        fetcher.get_file(FetchItem(url, sha256(b"z")))
    assert server.hits["/dists/nope/InRelease"] == 3  # one request each: 404 is never retried
    server.fail["/gone"] = [410]
    assert fetcher.try_get_bytes(server.url("/gone")) is None


def test_server_errors_retried(server: Server, fetcher: Fetcher) -> None:
    url = server.add("/flaky", b"finally")
    server.fail["/flaky"] = [500, 503]
    assert fetcher.get_bytes(url) == b"finally"
    assert server.hits["/flaky"] == 3
    server.fail["/flaky"] = [502] * 5
    with pytest.raises(FetchError, match="HTTP 502") as info:
        fetcher.get_bytes(url)
    assert server.hits["/flaky"] == 6  # 1 + retries
    assert "--mirror" in (info.value.hint or "")
    assert "\n" not in str(info.value)


def test_client_error_not_retried(server: Server, fetcher: Fetcher) -> None:
    server.fail["/private"] = [403, 403]
    with pytest.raises(FetchError, match="HTTP 403"):
        fetcher.get_bytes(server.url("/private"))
    assert server.hits["/private"] == 1


def test_truncated_body_retried(server: Server, fetcher: Fetcher) -> None:
    data = b"0123456789" * 5000
    url = server.add("/big", data)
    server.truncate.add("/big")
    assert fetcher.get_file(FetchItem(url, sha256(data), len(data))).read_bytes() == data
    assert server.hits["/big"] == 2


def test_unreachable(fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetcher.try_get_bytes(f"http://127.0.0.1:{port}/x")
    assert "Connection refused" in str(info.value) and "3 attempts" in str(info.value)
    assert info.value.hint == "check --mirror / network"


def test_unsupported_scheme(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme"):
        fetcher.get_bytes("ftp://127.0.0.1/x")


def test_file_urls_and_paths(tmp_path: Path, fetcher: Fetcher) -> None:
    mirror = tmp_path / "local mirror"
    mirror.mkdir()
    (mirror / "p.rpm").write_bytes(b"rpm bytes")
    url = "file://" + str(mirror).replace(" ", "%20") + "/p.rpm"
    assert fetcher.get_bytes(url) == b"rpm bytes"
    assert fetcher.get_bytes(str(mirror / "p.rpm")) == b"rpm bytes"
    assert fetcher.try_get_bytes(url + ".missing") is None
    assert fetcher.try_get_bytes(str(mirror / "no" / "such")) is None
    path = fetcher.get_file(FetchItem(url, sha256(b"rpm bytes"), 9))
    assert path.parent == fetcher.cache_dir / "by-sha256" and path.read_bytes() == b"rpm bytes"
    with pytest.raises(ChecksumError):
        fetcher.get_file(FetchItem(url, sha256(b"other")))


def test_cache_hit_shared_by_runs(server: Server, fetcher: Fetcher) -> None:
    data = b"cached" * 100
    url = server.add("/c.apk", data)
    item = FetchItem(url, sha256(data), len(data))
    first = fetcher.get_file(item)
    assert fetcher.get_file(item) == first
    again = Fetcher(fetcher.cache_dir)  # a later run sharing the cache
    assert again.get_file(item) == first
    assert again.get_bytes(url, item.checksums, len(data)) == data
    assert server.hits["/c.apk"] == 1


def test_no_checksum_downloaded_again(server: Server, fetcher: Fetcher) -> None:
    url = server.add("/latest.yaml", b"v1")
    path = fetcher.get_file(FetchItem(url))
    assert path.parent == fetcher.cache_dir / "by-url" and path.read_bytes() == b"v1"
    server.files["/latest.yaml"] = b"v2"
    assert fetcher.get_file(FetchItem(url)).read_bytes() == b"v2"
    assert server.hits["/latest.yaml"] == 2


def test_corrupt_cache_file_downloaded_again(server: Server, fetcher: Fetcher) -> None:
    data = b"good bytes " * 50
    url = server.add("/d.deb", data)
    item = FetchItem(url, sha256(data), len(data))
    path = fetcher.get_file(item)
    path.write_bytes(b"X" * len(data))  # same size: only the digest can tell
    assert fetcher.get_file(item).read_bytes() == data
    path.write_bytes(b"short")
    assert fetcher.get_file(item).read_bytes() == data
    assert server.hits["/d.deb"] == 3


def test_content_encoding_not_decoded(server: Server, fetcher: Fetcher) -> None:
    packed = gzip.compress(b"Package: a\n", mtime=0)
    url = server.add("/Packages.gz", packed)
    server.gzip_encoded.add("/Packages.gz")
    assert fetcher.get_file(FetchItem(url, sha256(packed), len(packed))).read_bytes() == packed


def _child_fetch(cache: str, url: str, digest: str, size: int,
                 barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    try:
        path = Fetcher(Path(cache), timeout=5).get_file(FetchItem(url, (Checksum("sha256", digest),), size))
        out.put(hashlib.sha256(path.read_bytes()).hexdigest())
    except Exception as exc:  # reported to the parent, which fails the test
        out.put(f"error: {exc}")


def test_two_processes_share_the_cache(server: Server, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096
    url = server.add("/shared.rpm", data)
    server.delay["/shared.rpm"] = 0.3  # both processes are downloading at the same time
    digest = hashlib.sha256(data).hexdigest()
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_child_fetch, args=(str(tmp_path / "cache"), url, digest, len(data),
                                                    barrier, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=10) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    assert results == [digest, digest]
    assert server.hits["/shared.rpm"] == 2
    assert (tmp_path / "cache" / "by-sha256" / digest).read_bytes() == data
    assert leftovers(tmp_path / "cache") == []


def test_get_many_order_and_parallelism(server: Server, fetcher: Fetcher) -> None:
    fetcher.jobs = 3
    items = []
    for i in range(6):
        data = f"package {i}\n".encode() * (i + 1)
        server.delay[f"/p{i}"] = 0.05 * (6 - i)  # the first items finish last
        items.append(FetchItem(server.add(f"/p{i}", data), sha256(data), len(data), f"p{i}"))
    seen: list[tuple[int, Path, bytes]] = []
    paths = fetcher.get_many(items, on_done=lambda i, path: seen.append((i, path, path.read_bytes())))
    assert [p.read_bytes() for p in paths] == [server.files[f"/p{i}"] for i in range(6)]
    # on_done: each item once, its file already in place when told
    assert sorted(seen) == sorted((i, paths[i], server.files[f"/p{i}"]) for i in range(6))
    # Parallel, within the limit (the server counts requests in flight; no clock is asked:
    # a loaded CI machine made an elapsed-time bound fail once).
    assert 2 <= server.max_in_flight <= 3
    assert fetcher.get_many([]) == []


def test_get_many_first_failure_cancels(server: Server, fetcher: Fetcher) -> None:
    fetcher.jobs = 2
    items = [FetchItem(server.url("/missing"), sha256(b"m"))]
    for i in range(6):
        server.delay[f"/slow{i}"] = 0.2
        items.append(FetchItem(server.add(f"/slow{i}", b"s%d" % i), sha256(b"s%d" % i)))
    with pytest.raises(FetchError, match="not found"):
        fetcher.get_many(items)
    assert sum(server.hits[f"/slow{i}"] for i in range(6)) <= 2


def test_get_many_failure_stops_running_downloads(server: Server, fetcher: Fetcher) -> None:
    big = b"b" * (40 << 16)  # 40 chunks: two seconds at the trickle's pace
    url = server.add("/big.deb", big)
    server.trickle.add("/big.deb")
    server.fail["/bad.deb"] = [403]
    server.delay["/bad.deb"] = 0.1
    items = [FetchItem(url, sha256(big), len(big)), FetchItem(server.url("/bad.deb"), sha256(b""))]
    with pytest.raises(FetchError, match="HTTP 403"):
        fetcher.get_many(items)
    # Stopped, not waited for: the trickled download never completed into the cache (and no
    # part of it is left), where finishing it would have taken two seconds.
    assert fetcher.cache_dir is not None
    assert not [p for p in fetcher.cache_dir.rglob("*") if p.name == hashlib.sha256(big).hexdigest()]
    assert leftovers(fetcher.cache_dir) == []


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_get_many_progress_bar(server: Server, fetcher: Fetcher,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"q" * (400 << 10)
    items = [FetchItem(server.add(f"/q{i}", body), sha256(body), len(body)) for i in range(3)]
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    fetcher.progress = terminal_progress()
    fetcher.get_many(items)
    shown = tty.getvalue()
    assert "3/3 packages" in shown and "1.2/1.2 MiB" in shown  # bytes in MiB, total = sum of sizes
    fetcher.progress = None
    quiet = _Tty()
    monkeypatch.setattr("sys.stderr", quiet)
    fetcher.get_many(items)
    assert quiet.getvalue() == ""


class Proxy:
    """A forward proxy that answers every request itself and records the absolute URLs."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.seen.append(self.path)
                body = b"via proxy"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def proxy(request: pytest.FixtureRequest) -> Iterator[Proxy]:
    prx = Proxy()
    yield prx
    prx.httpd.shutdown()
    prx.httpd.server_close()


def test_http_proxy_honoured(server: Server, proxy: Proxy, fetcher: Fetcher,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.httpd.server_address[1]}")
    # A name that cannot resolve: only the proxy can answer for it.
    assert fetcher.get_bytes("http://mirror.invalid/dists/x/Release") == b"via proxy"
    assert proxy.seen == ["http://mirror.invalid/dists/x/Release"]
    url = server.add("/direct", b"direct")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert fetcher.get_bytes(url) == b"direct"
    assert len(proxy.seen) == 1


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rootfs-bootstrap"
    assert Fetcher().cache_dir == tmp_path / "xdg" / "rootfs-bootstrap"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "rootfs-bootstrap"
