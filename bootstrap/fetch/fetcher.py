"""The fetcher: the only module that touches the network (http, https) or reads mirrors (file://).

Contracts:
- Every file is checked against the strongest digest given (sha512 > sha256 > sha1 > md5) and its
  size while it streams, before anyone reads it; a mismatch raises ChecksumError naming the URL,
  the expected and the actual value. Nothing unverified ever reaches the cache or a caller.
- Cache (`cache_dir`, shared by runs and processes): `<cache>/by-<algo>/<hexdigest>`. A download
  goes to a temporary file of its own in that directory and is renamed into place (os.replace,
  atomic) only once verified, so concurrent runs never see half a file (cache.py). A cached file
  is re-verified *fully* (size and digest) before each reuse, so a corrupt or tampered one is
  downloaded again. Files fetched without a digest are stored under `<cache>/by-url/<sha256(url)>`
  and always downloaded again (nothing says the copy there is current); the cache only gives
  them a path. A full cache file system is NoSpaceError, an unwritable one WorkspaceError;
  partial downloads a killed build left are removed (cache.sweep_parts).
- Mirrors: get_file / get_many try a FetchItem's `url`, then each of its `alternates` in order,
  when a URL fails for good (after its retries; not found; a copy that does not verify), one log
  line per move; the final error names every mirror tried in one bounded line (mirrors.py).
  A full or unwritable cache is never a reason to try another mirror.
- Retries: connection errors, resets, timeouts, truncated bodies, too slow transfers, HTTP 5xx
  and 429 are retried `retries` times. The wait is the server's Retry-After (seconds or an
  HTTP-date) up to `retry_after_cap`, else exponential backoff with equal jitter (`backoff`
  seconds doubling, capped at `backoff_cap`, each wait between half and all of its step; the
  jitter comes from `self.random`, a random.Random tests may seed). 404/410 and a missing local
  file are "not found": None from try_get_bytes, FetchError from get_bytes/get_file. Other HTTP
  errors fail at once. A mirror (scheme://host:port) whose failures outlasted the retries is
  down for the rest of the run: later files try it last, once, without retries. Every failure
  is one FetchError line with a hint (WorkspaceError for the cache's own); no other exception
  escapes. A host that never answered (its name does not resolve, it refuses, it times out,
  TLS fails) is an Unreachable, which names the host and the reason.
- Pace: besides the per-read `timeout`, each attempt must end within `deadline_base` +
  bytes / `deadline_rate` seconds and never run slower than `min_rate` bytes/s over a
  `rate_window`-second window (defaults 60 s + size at 64 KiB/s, 1 KiB/s over 30 s); bodies are
  read as the bytes arrive, so a server that drips is cut, and the attempt retried.
- Resume: an http(s) download cut short continues with `Range: bytes=N-` (and If-Range with the
  first answer's strong ETag or Last-Modified) when the file has a digest or such a validator; a
  206 whose Content-Range starts at N is appended, a 200 starts over, anything else starts over
  on the next attempt. The whole file is still checked against its digest and size (a spliced
  file that does not verify is downloaded again whole, once). A Content-Length that disagrees with
  the expected size is a ChecksumError before any byte is kept.
- Redirects are followed by hand (httpget.py): to any http(s) URL (other hosts and ports
  included), at most `max_redirects`; a loop, or a redirect to file://, ftp:// or any other
  scheme, is a FetchError.
- Proxies: requests' environment handling stays on (http_proxy, https_proxy, no_proxy apply).
- Bodies are saved as served: Content-Encoding is never decoded (digests are of the stored file).
"""
from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from bootstrap.errors import ChecksumError, FetchError, Unreachable
from bootstrap.fetch.cache import cache_entry, cached_size, sweep_parts
from bootstrap.fetch.httpget import NETWORK_HINT, HttpGetter
from bootstrap.fetch.mirrors import MirrorHealth, NotThere, failover
from bootstrap.fetch.transfer import (
    _CHUNK,
    Tick,
    _Cancelled,
    _content_length,
    _guarded,
    _no_tick,
    _NotFound,
    _Pace,
    _read1,
    _State,
    _Transient,
)
from bootstrap.fetch.verify import MIRROR_HINT, Expect, cache_path, default_cache_dir, keyed_path
from bootstrap.types import Checksum, FetchItem, Meter, NoMeter, Progress

__all__ = ["ChecksumError", "FetchError", "FetchItem", "Fetcher", "default_cache_dir"]

T = TypeVar("T")


def _host(url: str) -> str:
    """HOST, or HOST:PORT when the URL names a port: how an unreachable mirror is named."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def _local_path(url: str) -> Path:
    """The file a file:// URL or a plain path names."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path)))
    return Path(url)


class Fetcher(HttpGetter):
    """Downloads with verification, a shared cache, retries, mirror failover and parallelism
    (see the module docstring)."""

    backoff: float = 0.5  # first retry step in seconds; doubles each retry (jittered, see _delay)
    backoff_cap: float = 30.0  # no backoff step is longer than this
    retry_after_cap: float = 30.0  # a server's Retry-After is honoured up to this many seconds
    # Each attempt must finish within deadline_base + size / deadline_rate seconds, and never
    # run slower than min_rate bytes/s over any rate_window seconds (checked as bytes arrive;
    # a server that sends nothing at all is cut by the per-read `timeout`).
    deadline_base: float = 60.0
    deadline_rate: float = 64 * 1024
    min_rate: float = 1024
    rate_window: float = 30.0

    def __init__(self, cache_dir: Path | None = None, *, jobs: int = 4, retries: int = 3,
                 timeout: float = 60.0, progress: Progress | None = None,
                 log: Callable[[str], None] | None = None,
                 deadline_base: float | None = None, deadline_rate: float | None = None,
                 min_rate: float | None = None, rate_window: float | None = None,
                 retry_after_cap: float | None = None, rng: random.Random | None = None,
                 notice: Callable[[str], None] | None = None, offline: bool = False) -> None:
        self.offline = offline  # nothing but the cache and local files (build --offline)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.jobs = max(1, jobs)
        self.retries = max(0, retries)
        self.timeout = timeout
        if deadline_base is not None:
            self.deadline_base = deadline_base
        if deadline_rate is not None:
            self.deadline_rate = deadline_rate
        if min_rate is not None:
            self.min_rate = min_rate
        if rate_window is not None:
            self.rate_window = rate_window
        if retry_after_cap is not None:
            self.retry_after_cap = retry_after_cap
        self.random = rng or random.Random()  # the backoff's jitter; tests seed their own
        self.progress = progress
        self._log: Callable[[str], None] = log or (lambda line: None)
        # A move to another mirror is worth telling the user about; the rest is detail.
        self._notice: Callable[[str], None] = notice or self._log
        self._health = MirrorHealth()  # mirrors seen down this run are tried last
        self._swept: set[Path] = set()  # cache directories already rid of stale partial downloads
        self._sweep_lock = threading.Lock()
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
            raise NotThere(f"{url}: not found", hint=NETWORK_HINT) from None

    def try_get_bytes(self, url: str) -> bytes | None:
        """The file's bytes, or None when it is not there (HTTP 404/410, missing local file)."""
        try:
            return self._to_memory(Expect(url))
        except _NotFound:
            return None

    def get_head(self, url: str, size: int) -> bytes | None:
        """The first `size` bytes of a file (fewer when it is shorter), None when it is not
        there: one HTTP Range request, or a local read. Neither cached nor verified: the
        caller holds what it read to the whole file it fetches later."""
        if urlsplit(url).scheme.lower() in ("", "file"):
            try:
                with open(_local_path(url), "rb") as fh:
                    return fh.read(size)
            except FileNotFoundError:
                return None
        if self.offline:
            raise FetchError(f"--offline: not reading {url}", hint="a build with --offline reads no index")
        return self._http_head(url, size)

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
        meter: Meter = self.progress("fetch", total, "B") if self.progress else NoMeter()
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
        """The item from the cache when a copy there verifies, else downloaded from the first
        of its URLs that serves a good copy (the module docstring)."""
        expect = Expect.of(item.url, item.checksums, item.size)
        path = cache_path(self.cache_dir, item.url, expect.checksum)
        if expect.checksum is not None:
            size = cached_size(path, expect, self._log)
            if size is not None:
                tick(size)
                return path
        elif item.cache_key is not None:
            path = keyed_path(self.cache_dir, item.cache_key)
            if path.is_file():
                self._log(f"fetch: {item.url} (cached by {item.cache_key.algo})")
                tick(path.stat().st_size)
                return path
        if self.offline:
            self._refuse_offline(item)
        self._sweep_once(path.parent)
        with cache_entry(path) as out:
            def attempt(url: str) -> None:
                self._log(f"fetch: {url}")
                out.seek(0)
                out.truncate()  # nothing of another mirror's copy is kept
                try:
                    self._transfer(replace(expect, url=url), out, tick, stop)
                except _NotFound:
                    raise NotThere(f"{url}: not found", hint=NETWORK_HINT) from None

            failover((item.url, *item.alternates), attempt, self._notice, item.name, self._health)
        return path

    def forget(self, item: FetchItem) -> None:
        """Remove the cached copy of a file named by its `cache_key`, which its caller found
        bad: the next build downloads it again."""
        if item.cache_key is not None:
            keyed_path(self.cache_dir, item.cache_key).unlink(missing_ok=True)

    def _refuse_offline(self, item: FetchItem) -> None:
        """--offline: only local files (file:// mirrors, a --store) may be read."""
        local = [u for u in (item.url, *item.alternates) if urlsplit(u).scheme.lower() in ("", "file")]
        if not local:
            raise FetchError(f"{item.name or item.url} is not in the cache, and --offline forbids "
                             f"downloading it ({item.url})",
                             hint="build once online, or give --store DIR holding it "
                                  "(rootfs-bootstrap fetch --lock FILE --store DIR)")

    def _sweep_once(self, directory: Path) -> None:
        """Remove what killed builds left half-downloaded in `directory`, once per run."""
        with self._sweep_lock:
            if directory in self._swept:
                return
            self._swept.add(directory)
        removed = sweep_parts(directory)
        if removed:
            self._log(f"fetch: removed {removed} partial downloads of killed builds from {directory}")

    def _to_memory(self, expect: Expect) -> bytes:
        if self.offline and urlsplit(expect.url).scheme.lower() not in ("", "file"):
            raise FetchError(f"--offline: not reading {expect.url}",
                             hint="a build from a lock with --offline reads no index")
        buf = io.BytesIO()
        self._transfer(expect, buf, _no_tick, None)
        return buf.getvalue()

    # -- transfer -----------------------------------------------------------------------------

    def _transfer(self, expect: Expect, out: BinaryIO, tick: Tick,
                  stop: threading.Event | None) -> None:
        """The whole file into `out`, verified: attempts, retries, resumes."""
        state = _State(out, expect.hasher(), tick)
        try:
            self._retrying(expect.url, partial(self._attempt, expect, state, stop))
        except BaseException:
            tick(-state.received)  # the bar counts each byte once, however many attempts it takes
            raise

    def _retrying(self, url: str, attempt: Callable[[], T]) -> T:
        """Run `attempt`, retrying transient failures: Retry-After when the server gives one
        (capped at `retry_after_cap`), else exponential backoff with jitter. A mirror whose
        failures already outlasted the retries in this run is down: one attempt, no retries
        (its files have other mirrors to go to, and it should not cost each of them the wait)."""
        failures = 0
        was_down = self._health.is_down(url)
        retries = 0 if was_down else self.retries
        while True:
            try:
                return attempt()
            except _Transient as exc:
                if failures >= retries:
                    self._health.down(url)
                    tries = f" (after {failures + 1} attempts)" if failures else \
                        " (down earlier in this run: not retried)" if was_down else ""
                    if exc.unreachable:  # nothing answered: the index phase names the host and the mirror's layout
                        raise Unreachable(f"cannot fetch {url}: {exc}{tries}", hint=NETWORK_HINT, url=url,
                                          host=_host(url), reason=exc.unreachable) from None
                    raise FetchError(f"cannot fetch {url}: {exc}{tries}", hint=NETWORK_HINT) from None
                delay = self._delay(failures, exc.retry_after)
                failures += 1
                self._log(f"fetch: {url}: {exc}; retry {failures}/{retries} in {delay:.1f}s")
                time.sleep(delay)

    def _delay(self, failures: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `failures + 1`."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        # Equal jitter: half the exponential step fixed, half random, so clients that failed
        # together do not come back together, and no retry is immediate.
        step = min(self.backoff_cap, self.backoff * 2 ** failures)
        return step / 2 + self.random.uniform(0, step / 2)

    def _attempt(self, expect: Expect, state: _State, stop: threading.Event | None) -> None:
        """One transfer into `state`: resumed with a Range request where the last one was cut
        (and the server allows it), else the whole file; verified at the end."""
        scheme = urlsplit(expect.url).scheme.lower()
        resumable = scheme in ("http", "https") and (expect.checksum is not None or bool(state.validator))
        if state.received and not resumable:
            state.reset()
        started = time.monotonic()
        with self._chunks(expect.url, state) as (total, chunks):
            if expect.size and total and state.received + total != expect.size:
                announced = state.received + total
                if not state.resumed:
                    raise ChecksumError(f"{expect.url}: size mismatch: expected {expect.size} bytes, "
                                        f"the server announces {announced}", hint=MIRROR_HINT)
                state.reset()
                raise _Transient(f"the resumed answer announces {announced} bytes, not {expect.size}")
            pace = _Pace(self, started, total)
            for chunk in chunks:
                if stop is not None and stop.is_set():
                    raise _Cancelled()
                state.add(chunk)
                expect.check_growth(state.received)
                pace.check(len(chunk))
        try:
            expect.check(state.received, state.hasher)
        except ChecksumError:
            if not state.resumed:
                raise
            # Why: a resume splices two responses; if the file changed between them only a
            # fresh whole download can tell a bad mirror from a bad splice.
            state.reset()
            state.validator = ""
            raise _Transient("the resumed file does not verify; starting over") from None

    @contextmanager
    def _chunks(self, url: str, state: _State) -> Iterator[tuple[int, Iterator[bytes]]]:
        """(bytes this response should carry or 0 when unknown, the body as chunks), continuing
        `state` (a 206 answer to a Range request) or starting it over; read errors come out as
        _Transient."""
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https") and self.offline:
            raise FetchError(f"--offline: not downloading {url}", hint="build once online, or give --store DIR")
        if scheme in ("http", "https"):
            response = self._response(url, state)
            with response:
                length = _content_length(response)
                yield length, _guarded(_read1(response.raw))
        elif scheme in ("", "file"):
            state.reset()
            path = _local_path(url)
            try:
                handle = open(path, "rb")
            except (FileNotFoundError, NotADirectoryError):
                raise _NotFound() from None
            except OSError as exc:
                raise FetchError(f"cannot read {url}: {exc.strerror}", hint=NETWORK_HINT) from None
            with handle:
                yield 0, _guarded(iter(partial(handle.read, _CHUNK), b""))
        else:
            raise FetchError(f"cannot fetch {url}: unsupported URL scheme {scheme!r}",
                             hint="mirrors are http://, https://, file:// URLs or local paths")


