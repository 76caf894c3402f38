"""The fetcher: the only module that touches the network (http, https) or reads mirrors (file://).

Contracts:
- Every file is checked against the strongest digest given (sha512 > sha256 > sha1 > md5) and its
  size while it streams, before anyone reads it; a mismatch raises ChecksumError naming the URL,
  the expected and the actual value. Nothing unverified ever reaches the cache or a caller.
- Cache (`cache_dir`, shared by runs and processes): `<cache>/by-<algo>/<hexdigest>`. A download
  goes to a temporary file in that directory and is renamed into place (os.replace, atomic) only
  once verified, so concurrent runs never see half a file. A cached file is re-verified *fully*
  (size and digest) before each reuse, so a corrupt or tampered one is downloaded again.
  Files fetched without a digest are stored under `<cache>/by-url/<sha256(url)>` and always
  downloaded again (nothing says the copy there is current); the cache only gives them a path.
- Retries: connection errors, timeouts, truncated bodies, HTTP 5xx and 429 are retried `retries`
  times with exponential backoff (`backoff` seconds, doubling). 404/410 and a missing local file
  are "not found": None from try_get_bytes, FetchError from get_bytes/get_file. Other HTTP
  errors fail at once. Every failure is one FetchError line with a hint.
- Proxies: requests' environment handling stays on (http_proxy, https_proxy, no_proxy apply).
- Bodies are saved as served: Content-Encoding is never decoded (digests are of the stored file).
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from bootstrap.errors import ChecksumError, FetchError
from bootstrap.fetch.verify import Expect, cache_path, default_cache_dir
from bootstrap.types import Checksum, FetchItem, Meter, Progress

__all__ = ["ChecksumError", "FetchError", "FetchItem", "Fetcher", "default_cache_dir"]

NETWORK_HINT = "check --mirror / network"
_CHUNK = 1 << 16
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
T = TypeVar("T")
Tick = Callable[[int], None]


class _NotFound(Exception):
    """The server or the file system says the file is not there (404/410, ENOENT)."""


class _Transient(Exception):
    """A failure worth retrying; the message is the short reason."""


class _Cancelled(Exception):
    """get_many gave up (another download failed): stop quietly."""


class _NoMeter:
    """The meter when nobody watches."""

    def advance(self, amount: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _no_tick(_: int) -> None:
    """Progress callback for single downloads (no bar)."""


def _reason(exc: BaseException) -> str:
    """A short reason for a low-level error ("Connection refused", "timed out", "HTTP 503")."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return "timed out"
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


def _local_path(url: str) -> Path:
    """The file a file:// URL or a plain path names."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path)))
    return Path(url)


class Fetcher:
    """Downloads with verification, a shared cache, retries and parallelism (see module doc)."""

    backoff: float = 0.5  # first retry delay in seconds; doubles each retry

    def __init__(self, cache_dir: Path | None = None, *, jobs: int = 4, retries: int = 3,
                 timeout: float = 60.0, progress: Progress | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.jobs = max(1, jobs)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.progress = progress
        self._log: Callable[[str], None] = log or (lambda line: None)
        self._local = threading.local()

    # -- public API ---------------------------------------------------------------------------

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        """A small file (an index) in memory; verified, and cached by digest, when digests are given."""
        expect = Expect.of(url, checksums, size)
        if expect.checksum is not None:
            return self.get_file(FetchItem(url, tuple(checksums), size)).read_bytes()
        try:
            return self._to_memory(expect)
        except _NotFound:
            raise FetchError(f"{url}: not found", hint=NETWORK_HINT) from None

    def try_get_bytes(self, url: str) -> bytes | None:
        """The file's bytes, or None when it is not there (HTTP 404/410, missing local file)."""
        try:
            return self._to_memory(Expect(url))
        except _NotFound:
            return None

    def get_file(self, item: FetchItem) -> Path:
        """The verified file in the shared cache (downloaded unless a valid copy is there)."""
        return self._get_file(item, _no_tick, None)

    def get_many(self, items: Sequence[FetchItem],
                 on_done: Callable[[int, Path], None] | None = None) -> list[Path]:
        """get_file for each item, `jobs` at a time, paths in the order of `items`.

        `on_done(i, path)` is called in the calling thread as soon as items[i] is verified
        (so the caller can start on it while the rest download). With `progress`, a meter
        counts the bytes against the items' sizes, noting "n/N packages". The
        first failure cancels the downloads not yet done and is raised.
        """
        if not items:
            return []
        lock, stop = threading.Lock(), threading.Event()
        total = sum(max(item.size, 0) for item in items) or None
        meter: Meter = self.progress("fetch", total, "B") if self.progress else _NoMeter()
        try:
            def tick(n: int) -> None:
                with lock:
                    meter.advance(n)

            meter.note(f"0/{len(items)} packages")
            with ThreadPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
                futures = [pool.submit(self._get_file, item, tick, stop) for item in items]
                index = {future: i for i, future in enumerate(futures)}
                try:
                    for done, future in enumerate(as_completed(futures), 1):
                        path = future.result()
                        if on_done is not None:
                            on_done(index[future], path)
                        with lock:
                            meter.note(f"{done}/{len(items)} packages")
                except BaseException:
                    # Why: a build cannot go on without every package; do not keep downloading.
                    stop.set()
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            meter.close()
        return [future.result() for future in futures]

    # -- cache --------------------------------------------------------------------------------

    def _get_file(self, item: FetchItem, tick: Tick, stop: threading.Event | None) -> Path:
        expect = Expect.of(item.url, item.checksums, item.size)
        path = cache_path(self.cache_dir, item.url, expect.checksum)
        if expect.checksum is not None:
            size = self._cached_size(path, expect)
            if size is not None:
                tick(size)
                return path
        self._log(f"fetch: {item.url}")
        self._download(expect, path, tick, stop)
        return path

    def _cached_size(self, path: Path, expect: Expect) -> int | None:
        """The size of a cached copy that still verifies, or None (absent or corrupt)."""
        try:
            with open(path, "rb") as cached:
                size = expect.check_stream(cached)
        except FileNotFoundError:
            return None
        except (OSError, FetchError) as exc:
            self._log(f"fetch: cached {path} is unusable ({exc}); downloading again")
            return None
        self._log(f"fetch: {expect.url} (cached)")
        return size

    def _download(self, expect: Expect, path: Path, tick: Tick,
                  stop: threading.Event | None) -> None:
        """Download into a temporary file beside `path`, verify, then rename it into place."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
        except OSError as exc:
            raise FetchError(f"cannot write to the download cache {path.parent}: {exc.strerror}",
                             hint="pass a writable --cache-dir") from None
        try:
            with os.fdopen(fd, "w+b") as out:
                self._retrying(expect.url, partial(self._attempt, expect, out, tick, stop))
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is shared by runs
            os.replace(tmp, path)
        except _NotFound:
            raise FetchError(f"{expect.url}: not found", hint=NETWORK_HINT) from None
        except OSError as exc:
            raise FetchError(f"cannot write to the download cache {path.parent}: {exc.strerror}",
                             hint="free some space or pass another --cache-dir") from None
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp)

    def _to_memory(self, expect: Expect) -> bytes:
        buf = io.BytesIO()
        self._retrying(expect.url, partial(self._attempt, expect, buf, _no_tick, None))
        return buf.getvalue()

    # -- transfer -----------------------------------------------------------------------------

    def _retrying(self, url: str, attempt: Callable[[], T]) -> T:
        """Run `attempt`, retrying transient failures with exponential backoff."""
        failures = 0
        while True:
            try:
                return attempt()
            except _Transient as exc:
                if failures >= self.retries:
                    tries = f" (after {failures + 1} attempts)" if failures else ""
                    raise FetchError(f"cannot fetch {url}: {exc}{tries}", hint=NETWORK_HINT) from None
                delay = self.backoff * 2 ** failures
                failures += 1
                self._log(f"fetch: {url}: {exc}; retry {failures}/{self.retries} in {delay:.1f}s")
                time.sleep(delay)

    def _attempt(self, expect: Expect, out: BinaryIO, tick: Tick,
                 stop: threading.Event | None) -> None:
        """One transfer of the whole file into `out` (rewound first), verified at the end."""
        out.seek(0)
        out.truncate()
        hasher, received = expect.hasher(), 0
        try:
            with self._chunks(expect.url) as chunks:
                for chunk in chunks:
                    if stop is not None and stop.is_set():
                        raise _Cancelled()
                    received += len(chunk)
                    expect.check_growth(received)
                    if hasher is not None:
                        hasher.update(chunk)
                    out.write(chunk)
                    tick(len(chunk))
            expect.check(received, hasher)
        except BaseException:
            tick(-received)  # the bar counts each byte once, however many attempts it takes
            raise

    @contextmanager
    def _chunks(self, url: str) -> Iterator[Iterator[bytes]]:
        """The body of `url` as chunks; read errors come out as _Transient."""
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            response = self._response(url)
            with response:
                yield _guarded(response.raw.stream(_CHUNK, decode_content=False))
        elif scheme in ("", "file"):
            path = _local_path(url)
            try:
                handle = open(path, "rb")
            except (FileNotFoundError, NotADirectoryError):
                raise _NotFound() from None
            except OSError as exc:
                raise FetchError(f"cannot read {url}: {exc.strerror}", hint=NETWORK_HINT) from None
            with handle:
                yield _guarded(iter(partial(handle.read, _CHUNK), b""))
        else:
            raise FetchError(f"cannot fetch {url}: unsupported URL scheme {scheme!r}",
                             hint="mirrors are http://, https://, file:// URLs or local paths")

    def _session(self) -> requests.Session:
        """This thread's session (requests sessions are not thread-safe; connections are reused)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()  # trust_env stays on: *_proxy variables apply
            session.headers["User-Agent"] = "rootfs-bootstrap"
            session.headers["Accept-Encoding"] = "identity"  # digests are of the file as stored
            self._local.session = session
        return session

    def _response(self, url: str) -> requests.Response:
        """An open streaming response with a 2xx status; errors sorted into our three kinds."""
        try:
            response = self._session().get(url, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(_reason(exc)) from None
        except requests.RequestException as exc:
            raise FetchError(f"cannot fetch {url}: {_reason(exc)}", hint=NETWORK_HINT) from None
        status = response.status_code
        if status < 400:
            return response
        response.close()
        if status in (404, 410):
            raise _NotFound()
        what = f"HTTP {status} {response.reason or ''}".strip()
        if status >= 500 or status == 429:
            raise _Transient(what)
        raise FetchError(f"cannot fetch {url}: {what}", hint=NETWORK_HINT)


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Chunks, with errors while reading (reset, truncated body, timeout) turned into _Transient."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise _Transient(_reason(exc)) from None
        if chunk:
            yield chunk
