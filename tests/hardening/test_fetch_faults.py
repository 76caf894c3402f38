"""bootstrap.fetch against hostile or broken servers: drips, resets, cut and lying bodies, Retry-After,
Range resumes, redirects. Every server listens on 127.0.0.1, answers a bounded number of requests
from a script and then stops by itself (and at the end of each test at the latest); each case
runs in well under 3 s because the fetcher is given tiny deadlines, rates and caps."""
from __future__ import annotations

import hashlib
import io
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.errors import BootstrapError, ChecksumError, FetchError
from bootstrap.fetch import Fetcher, FetchItem
from bootstrap.fetch.transfer import _retry_after
from bootstrap.types import Checksum

Step = Callable[[BaseHTTPRequestHandler], None]
DATA = bytes(range(256)) * 20  # 5120 bytes
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


def sha256(data: bytes) -> tuple[Checksum, ...]:
    return (Checksum("sha256", hashlib.sha256(data).hexdigest()),)


# -- the scripted server --------------------------------------------------------------------------

class Scripted:
    """Answers the n-th request for a path with the n-th step of its script (418 once it runs
    out); serves at most `limit` requests, then closes its socket by itself."""

    def __init__(self, limit: int = 30) -> None:
        self.scripts: dict[str, list[Step]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, headers) of every request
        self.limit = limit
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.timeout = 0.02
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        served = 0
        while not self.stopped.is_set() and served < self.limit:
            before = len(self.seen)
            self.httpd.handle_request()
            served += 1 if len(self.seen) > before else 0
        self.httpd.server_close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def script(self, path: str, *steps: Step) -> str:
        self.scripts[path] = list(steps)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.seen if seen == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.seen.append((self.path, dict(self.headers.items())))
                    steps = server.scripts.get(self.path, [])
                    step = steps.pop(0) if steps else status(418)
                self.close_connection = True
                step(self)

        return Handler


@pytest.fixture
def make_server(request: pytest.FixtureRequest) -> Callable[[], Scripted]:
    def make() -> Scripted:
        srv = Scripted()
        request.addfinalizer(srv.stop)
        return srv
    return make


@pytest.fixture
def srv(make_server: Callable[[], Scripted]) -> Scripted:
    return make_server()


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


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


# -- steps ----------------------------------------------------------------------------------------

def _head(req: BaseHTTPRequestHandler, code: int, length: int | None,
          headers: dict[str, str] | None = None) -> None:
    req.send_response(code)
    req.send_header("Connection", "close")  # one request per connection, said out loud
    if length is not None:
        req.send_header("Content-Length", str(length))
    for name, value in (headers or {}).items():
        req.send_header(name, value)
    req.end_headers()


def ok(data: bytes, *, length: int | None = None, headers: dict[str, str] | None = None) -> Step:
    """200 with `data`; `length` is the Content-Length to claim (default: the truth)."""
    def step(req: BaseHTTPRequestHandler) -> None:
        _head(req, 200, len(data) if length is None else length, headers)
        try:
            req.wfile.write(data)
            req.wfile.flush()
        except OSError:
            pass
    return step


def status(code: int, headers: dict[str, str] | None = None) -> Step:
    def step(req: BaseHTTPRequestHandler) -> None:
        _head(req, code, 0, headers)
    return step


def redirect(location: str, code: int = 302) -> Step:
    return status(code, {"Location": location})


def cut(data: bytes, at: int, *, reset: bool = False, headers: dict[str, str] | None = None) -> Step:
    """200 announcing all of `data`, then only `at` bytes and the connection ends: closed
    (a truncated body), or with `reset` torn down with a TCP RST (a connection reset)."""
    def step(req: BaseHTTPRequestHandler) -> None:
        _head(req, 200, len(data), headers)
        req.wfile.write(data[:at])
        req.wfile.flush()
        time.sleep(0.05)  # the client has the bytes before the end
        if reset:
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.rfile.close()
            req.wfile.close()
            req.connection.close()
            req.wfile = io.BytesIO()  # the handler's own flush after do_GET has somewhere to go
    return step


def ranged(data: bytes, *, start: int | None = None) -> Step:
    """Honours `Range: bytes=N-` with a 206 (from `start` instead of N, to lie), else a 200."""
    def step(req: BaseHTTPRequestHandler) -> None:
        wanted = req.headers.get("Range", "")
        if not wanted.startswith("bytes="):
            ok(data)(req)
            return
        first = int(wanted[len("bytes="):].rstrip("-")) if start is None else start
        _head(req, 206, len(data) - first,
              {"Content-Range": f"bytes {first}-{len(data) - 1}/{len(data)}"})
        req.wfile.write(data[first:])
    return step


def drip(data: bytes, every: float, *, piece: int = 1) -> Step:
    """200 with `data`, `piece` bytes every `every` seconds, until done or the client hangs up
    (or 3 s at most)."""
    def step(req: BaseHTTPRequestHandler) -> None:
        _head(req, 200, len(data))
        ends = time.monotonic() + 3
        try:
            for start in range(0, len(data), piece):
                req.wfile.write(data[start:start + piece])
                req.wfile.flush()
                if time.monotonic() > ends:
                    return
                time.sleep(every)
        except OSError:
            pass
    return step


# -- checks ---------------------------------------------------------------------------------------

def one_line(exc: BaseException) -> str:
    """The error as the CLI shows it: a FetchError, one line, with a hint."""
    assert isinstance(exc, FetchError) and isinstance(exc, BootstrapError)
    text = str(exc)
    assert "\n" not in text and text
    assert exc.hint
    return text


def cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def assert_clean(cache: Path) -> None:
    """No partial download and no file that does not match its name's digest."""
    for path in cache_files(cache):
        assert not path.name.startswith(".part-"), path
        assert path.parent.name == "by-sha256" and hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def fail(fetcher: Fetcher, item: FetchItem) -> str:
    with pytest.raises(FetchError) as info:
        fetcher.get_file(item)
    assert_clean(fetcher.cache_dir)
    return one_line(info.value)


# -- 1. deadline and minimum rate -----------------------------------------------------------------

class TestPace:
    def test_slow_drip_aborted_retried_then_fails(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/drip", *[drip(DATA, 0.05)] * 3)  # 20 B/s against a 200 B/s floor
        started = time.monotonic()
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert time.monotonic() - started < 2.5
        assert "too slow" in text and "bytes/s" in text and "after 3 attempts" in text
        assert len(srv.hits("/drip")) == 3

    def test_slow_drip_then_success(self, srv: Scripted, fetcher: Fetcher, log: list[str]) -> None:
        url = srv.script("/drip", drip(DATA, 0.05), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert any("too slow" in line and "retry 1/2" in line for line in log)

    def test_stalled_server_cut_by_read_timeout(self, srv: Scripted, fetcher: Fetcher) -> None:
        fetcher.timeout = 0.3
        url = srv.script("/stall", drip(DATA, 2.0, piece=100), ok(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA

    def test_overall_deadline(self, srv: Scripted, fetcher: Fetcher) -> None:
        # 1000 B/s clears the rate floor; 0.3 s + 5120 B / 1 MiB/s does not cover 5 s.
        fetcher.deadline_base, fetcher.retries = 0.3, 0
        url = srv.script("/slow", drip(DATA, 0.1, piece=100))
        started = time.monotonic()
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert "too slow" in text and "allowed" in text
        assert time.monotonic() - started < 1.5

    def test_deadline_scales_with_size(self, srv: Scripted, fetcher: Fetcher) -> None:
        # ~0.5 s to send; allowed 0.1 s + 5120 B / 4096 B/s = 1.35 s.
        fetcher.deadline_base, fetcher.deadline_rate, fetcher.retries = 0.1, 4096, 0
        url = srv.script("/sized", drip(DATA, 0.05, piece=512))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA

    def test_defaults(self) -> None:
        assert (Fetcher.deadline_base, Fetcher.deadline_rate) == (60.0, 64 * 1024)
        assert (Fetcher.min_rate, Fetcher.rate_window) == (1024, 30.0)
        assert (Fetcher.retry_after_cap, Fetcher.backoff_cap, Fetcher.max_redirects) == (30.0, 30.0, 10)


# -- 2. retries, Retry-After, jitter --------------------------------------------------------------

class TestRetries:
    def test_reset_mid_file_then_success(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/reset", cut(DATA, 2000, reset=True), ok(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert len(srv.hits("/reset")) == 2
        assert_clean(fetcher.cache_dir)

    def test_500_then_success(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/e", status(500), ok(DATA))
        assert fetcher.get_bytes(url) == DATA
        assert len(srv.hits("/e")) == 2

    def test_500_every_time(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/e", *[status(500)] * 3)
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert "HTTP 500" in text and "after 3 attempts" in text

    def test_503_retry_after_seconds(self, srv: Scripted, fetcher: Fetcher, log: list[str]) -> None:
        fetcher.retry_after_cap = 5.0
        url = srv.script("/busy", status(503, {"Retry-After": "1"}), ok(DATA))
        started = time.monotonic()
        assert fetcher.get_bytes(url) == DATA
        assert 0.95 <= time.monotonic() - started < 2.0
        assert any("HTTP 503" in line and "in 1.0s" in line for line in log)

    def test_retry_after_capped(self, srv: Scripted, fetcher: Fetcher, log: list[str]) -> None:
        url = srv.script("/busy", status(503, {"Retry-After": "3600"}), ok(DATA))
        started = time.monotonic()
        assert fetcher.get_bytes(url) == DATA
        assert time.monotonic() - started < 1.0
        assert any("in 0.3s" in line for line in log)

    def test_429_retry_after_http_date(self, srv: Scripted, fetcher: Fetcher, log: list[str]) -> None:
        later = formatdate(time.time() + 120, usegmt=True)
        url = srv.script("/limit", status(429, {"Retry-After": later}), ok(DATA))
        assert fetcher.get_bytes(url) == DATA
        assert any("HTTP 429" in line and "in 0.3s" in line for line in log)  # capped

    def test_retry_after_parsing(self) -> None:
        assert _retry_after("7") == 7.0
        assert _retry_after(" 0 ") == 0.0
        soon = _retry_after(formatdate(time.time() + 60, usegmt=True))
        assert soon is not None and 55 <= soon <= 61
        assert _retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
        for junk in (None, "", "soon", "-5", "1.5e99x", "Mon, 99 Foo 2020 99:99:99 GMT"):
            assert _retry_after(junk) is None

    def test_backoff_jitter_deterministic_and_bounded(self, tmp_path: Path) -> None:
        one, two = (Fetcher(tmp_path, rng=random.Random(42)) for _ in range(2))
        delays = [one._delay(n, None) for n in range(10)]
        assert delays == [two._delay(n, None) for n in range(10)]
        for n, delay in enumerate(delays):
            step = min(Fetcher.backoff_cap, Fetcher.backoff * 2 ** n)
            assert step / 2 <= delay <= step
        assert len({round(d / min(30.0, 0.5 * 2 ** n), 6) for n, d in enumerate(delays)}) > 1  # jittered
        assert one._delay(0, 99.0) == 30.0 and one._delay(0, 2.0) == 2.0

    def test_4xx_not_retried(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/no", status(403), ok(DATA))
        assert "HTTP 403" in fail(fetcher, FetchItem(url, sha256(DATA)))
        assert len(srv.hits("/no")) == 1


# -- 3. truncated and lying bodies, Range resume --------------------------------------------------

class TestBodies:
    def test_truncated_body_every_time(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/cut", *[cut(DATA, 1000)] * 3)  # and no Range support: a 200 each time
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert "after 3 attempts" in text

    def test_truncated_body_without_size_or_digest(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/cut", *[cut(DATA, 1000)] * 3)
        with pytest.raises(FetchError) as info:
            fetcher.get_bytes(url)
        assert "after 3 attempts" in one_line(info.value)

    def test_content_length_too_long(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/long", ok(DATA, length=len(DATA) + 100))
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert "size mismatch" in text and "announces" in text
        assert len(srv.hits("/long")) == 1  # the mirror says so itself: no retry

    def test_content_length_too_long_unknown_size(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/long", *[ok(DATA, length=len(DATA) + 100)] * 3)
        text = fail(fetcher, FetchItem(url, sha256(DATA)))
        assert "after 3 attempts" in text  # the body ends early: a cut, retried

    def test_content_length_too_short(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/short", ok(DATA, length=len(DATA) - 100))
        text = fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))
        assert "size mismatch" in text

    def test_content_length_too_short_unknown_size(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/short", ok(DATA, length=len(DATA) - 100))
        with pytest.raises(ChecksumError) as info:
            fetcher.get_file(FetchItem(url, sha256(DATA)))
        assert "sha256 mismatch" in one_line(info.value)
        assert_clean(fetcher.cache_dir)

    def test_range_resume_after_cut(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/r", cut(DATA, 2000, headers={"ETag": '"v1"'}), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        first, second = srv.hits("/r")
        assert "Range" not in first
        assert second["Range"] == "bytes=2000-" and second["If-Range"] == '"v1"'
        assert_clean(fetcher.cache_dir)

    def test_range_resume_after_reset(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/r", cut(DATA, 3000, reset=True), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert srv.hits("/r")[1]["Range"].startswith("bytes=")

    def test_resume_answered_200_starts_over(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/r", cut(DATA, 2000), ok(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert srv.hits("/r")[1]["Range"] == "bytes=2000-"

    def test_resume_of_changed_file_starts_over(self, srv: Scripted, fetcher: Fetcher) -> None:
        other = bytes(reversed(DATA))
        url = srv.script("/r", cut(DATA, 2000), ranged(other), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        hits = srv.hits("/r")
        assert len(hits) == 3 and "Range" in hits[1] and "Range" not in hits[2]

    def test_resume_wrong_content_range_starts_over(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/r", cut(DATA, 2000), ranged(DATA, start=1000), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert "Range" not in srv.hits("/r")[2]

    def test_no_resume_without_digest_or_validator(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/r", cut(DATA, 2000), ranged(DATA))
        assert fetcher.get_bytes(url) == DATA
        assert "Range" not in srv.hits("/r")[1]

    def test_resume_in_memory_with_validator(self, srv: Scripted, fetcher: Fetcher) -> None:
        stamp = {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}
        url = srv.script("/r", cut(DATA, 2000, headers=stamp), ranged(DATA))
        assert fetcher.get_bytes(url) == DATA
        assert srv.hits("/r")[1]["If-Range"] == stamp["Last-Modified"]

    @pytest.mark.parametrize("second", [ranged(DATA), ok(DATA)], ids=["206", "200"])
    def test_progress_counts_each_byte_once(self, srv: Scripted, fetcher: Fetcher, second: Step) -> None:
        url = srv.script("/r", cut(DATA, 2000), second)
        ticks: list[int] = []
        fetcher._get_file(FetchItem(url, sha256(DATA), len(DATA)), ticks.append, None)
        assert sum(ticks) == len(DATA)

    def test_get_many_failure_leaves_cache_clean(self, srv: Scripted, fetcher: Fetcher) -> None:
        good = srv.script("/good", ok(DATA))
        bad = srv.script("/bad", *[cut(DATA, 100)] * 3)
        other = bytes(reversed(DATA))
        with pytest.raises(FetchError) as info:
            fetcher.get_many([FetchItem(good, sha256(DATA), len(DATA)),
                              FetchItem(bad, sha256(other), len(other))])
        one_line(info.value)
        assert_clean(fetcher.cache_dir)


# -- 4. redirects ---------------------------------------------------------------------------------

class TestRedirects:
    def test_redirect_to_another_port_followed(self, make_server: Callable[[], Scripted],
                                               fetcher: Fetcher) -> None:
        front, mirror = make_server(), make_server()
        target = mirror.script("/pool/a.deb", ok(DATA))
        url = front.script("/a.deb", redirect(target, 301))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert len(mirror.hits("/pool/a.deb")) == 1

    def test_relative_redirect_and_resume_through_it(self, srv: Scripted, fetcher: Fetcher, log: list[str]) -> None:
        url = srv.script("/a", redirect("/b", 307), redirect("/b", 307))
        srv.script("/b", cut(DATA, 2000), ranged(DATA))
        assert fetcher.get_file(FetchItem(url, sha256(DATA), len(DATA))).read_bytes() == DATA
        assert srv.hits("/b")[1]["Range"] == "bytes=2000-", (log, srv.seen)

    def test_redirect_loop(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/a", redirect("/b"))
        srv.script("/b", redirect("/a"))
        text = fail(fetcher, FetchItem(url, sha256(DATA)))
        assert "redirect loop" in text
        assert len(srv.seen) == 2

    def test_too_many_redirects(self, srv: Scripted, fetcher: Fetcher) -> None:
        for n in range(12):
            srv.script(f"/r{n}", redirect(f"/r{n + 1}"))
        text = fail(fetcher, FetchItem(srv.url("/r0"), sha256(DATA)))
        assert "more than 10 redirects" in text
        assert len(srv.seen) == 11

    @pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/"])
    def test_redirect_to_other_scheme_refused(self, srv: Scripted, fetcher: Fetcher, target: str) -> None:
        url = srv.script("/a", redirect(target))
        text = fail(fetcher, FetchItem(url, sha256(DATA)))
        assert "refused a redirect" in text and target in text
        assert len(srv.seen) == 1

    def test_redirect_without_location(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/a", status(302))
        assert "without a Location" in fail(fetcher, FetchItem(url, sha256(DATA)))

    def test_get_bytes_refuses_file_redirect(self, srv: Scripted, fetcher: Fetcher) -> None:
        url = srv.script("/Release", redirect("file:///etc/passwd"))
        with pytest.raises(FetchError) as info:
            fetcher.try_get_bytes(url)
        assert "refused a redirect" in one_line(info.value)


# -- 5. every failure one FetchError line ---------------------------------------------------------

class TestOneLine:
    @pytest.mark.parametrize("steps", [
        [status(500)] * 3,
        [status(503, {"Retry-After": "junk"})] * 3,
        [cut(DATA, 10, reset=True)] * 3,
        [ok(DATA, length=10**12)],
        [status(206, {"Content-Range": "bytes 0-1/2"})] * 3,
        [status(304)],
        [ok(b"<html>captive portal</html>")],
    ], ids=["500", "503-junk", "reset", "huge-length", "unasked-206", "304", "wrong-body"])
    def test_failure_is_one_line(self, srv: Scripted, fetcher: Fetcher, steps: list[Step]) -> None:
        url = srv.script("/x", *steps)
        fail(fetcher, FetchItem(url, sha256(DATA), len(DATA)))

    def test_unreachable(self, fetcher: Fetcher) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        text = fail(fetcher, FetchItem(f"http://127.0.0.1:{port}/x", sha256(DATA)))
        assert "Connection refused" in text


@pytest.fixture(autouse=True)
def _quick(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each case well under 3 s."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 3.0, f"{request.node.name} took too long"
