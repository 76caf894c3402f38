"""One transfer's moving parts, for the fetcher: the failures it tells apart, what a download
holds across its attempts (for a resume), its pace (deadline and minimum rate), and the
reading of the headers and bodies a server sends."""
from __future__ import annotations

import hashlib
import http.client
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Protocol

import requests
import urllib3

_CHUNK = 1 << 16
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
Tick = Callable[[int], None]


class PaceFigures(Protocol):
    """The figures a pace is held to (the Fetcher's attributes)."""

    deadline_base: float
    deadline_rate: float
    min_rate: float
    rate_window: float


class _NotFound(Exception):
    """The server or the file system says the file is not there (404/410, ENOENT)."""


class _Transient(Exception):
    """A failure worth retrying; the message is the short reason, `retry_after` the seconds the
    server asked us to wait (Retry-After), if it did; `unreachable` why the host could not be
    reached at all (_unreachable), "" when it answered."""

    def __init__(self, reason: str, retry_after: float | None = None, unreachable: str = "") -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.unreachable = unreachable


class _Cancelled(Exception):
    """get_many gave up (another download failed): stop quietly."""


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
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):  # requests wraps urllib3's errors
        inner = inner.args[0]
    if isinstance(inner, urllib3.exceptions.ProtocolError) and inner.args and isinstance(inner.args[0], str):
        text = inner.args[0]  # not the repr of its (message, cause) tuple
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


_TLS_REASON = re.compile(r"\[SSL(?:: [A-Z0-9_]+)?\] ([^(]+?)\s*\(_ssl")
_NO_NAME = ("Name or service not known", "Temporary failure in name resolution", "No address associated",
            "nodename nor servname", "Failed to resolve")


def _unreachable(exc: BaseException) -> str:
    """Why a request that got no answer at all could not reach its host: "name resolution
    failed", "connection refused", "timed out", "TLS: <what the handshake said>"; "" for any
    other failure (a reset, a proxy's refusal: something was reached). `exc` is what
    requests raised before any response headers arrived."""
    if isinstance(exc, requests.exceptions.ProxyError):
        return ""
    if isinstance(exc, requests.exceptions.SSLError):
        found = _TLS_REASON.search(str(exc))
        return f"TLS: {found.group(1).strip() if found else 'the handshake failed'}"
    if isinstance(exc, requests.Timeout):  # connect or first answer: stream=True reads no body yet
        return "timed out"
    text = str(exc)
    if any(word in text for word in _NO_NAME):
        return "name resolution failed"
    if "Connection refused" in text:
        return "connection refused"
    return ""


class _State:
    """One download across its attempts: what is in `out` so far, its running digest, and the
    validator (a strong ETag or Last-Modified) that lets a resume ask for the same file."""

    def __init__(self, out: BinaryIO, hasher: hashlib._Hash | None, tick: Tick) -> None:
        self.out, self.hasher, self.tick = out, hasher, tick
        self.fresh_hasher = hasher.copy() if hasher is not None else None
        self.received = 0
        self.validator = ""
        self.resumed = False

    def add(self, chunk: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(chunk)
        self.out.write(chunk)
        self.received += len(chunk)
        self.tick(len(chunk))

    def reset(self) -> None:
        """Start over: nothing received (and the progress bar told so)."""
        self.tick(-self.received)
        self.out.seek(0)
        self.out.truncate()
        self.hasher = self.fresh_hasher.copy() if self.fresh_hasher is not None else None
        self.received = 0
        self.resumed = False

    def restart(self, headers: Mapping[str, str]) -> None:
        """A whole-file (200) answer: start over, remembering its validator."""
        self.reset()
        etag = headers.get("ETag", "")
        self.validator = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified", "")


class _Pace:
    """The overall deadline and the minimum rate of one transfer (see Fetcher's attributes)."""

    def __init__(self, fetcher: PaceFigures, started: float, total: int) -> None:
        self.started = self.window_start = started
        self.base, self.rate = fetcher.deadline_base, fetcher.deadline_rate
        self.min_rate, self.window = fetcher.min_rate, fetcher.rate_window
        self.total, self.received, self.window_bytes = total, 0, 0

    def check(self, amount: int) -> None:
        now = time.monotonic()
        self.received += amount
        self.window_bytes += amount
        allowed = self.base + max(self.total, self.received) / self.rate
        if now - self.started > allowed:
            raise _Transient(f"too slow: {self.received} bytes in {now - self.started:.1f}s, "
                             f"over the {allowed:.1f}s allowed")
        span = now - self.window_start
        if span >= self.window:
            if self.window_bytes < self.min_rate * span:
                raise _Transient(f"too slow: {self.window_bytes} bytes in {span:.1f}s "
                                 f"(minimum {self.min_rate:.0f} bytes/s)")
            self.window_start, self.window_bytes = now, 0


def _content_length(response: requests.Response) -> int:
    """The body length the response announces, 0 when it does not (or says nonsense)."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else 0


def _range_start(content_range: str) -> int | None:
    """The first byte a `Content-Range: bytes START-END/TOTAL` header covers, None if unusable."""
    found = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
    return int(found.group(1)) if found else None


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP-date), None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _read1(raw: urllib3.HTTPResponse) -> Iterator[bytes]:
    """The body as whatever the socket has each time (read1), so the pace is checked on every
    byte that arrives: read(n) would wait for all n bytes from a server that drips."""
    while chunk := raw.read1(_CHUNK, decode_content=False):
        yield chunk


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Chunks, with errors while reading (reset, truncated body, timeout) turned into _Transient."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException,
                OSError) as exc:
            raise _Transient(_reason(exc)) from None
        if chunk:
            yield chunk
