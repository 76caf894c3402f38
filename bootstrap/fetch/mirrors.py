"""Mirror failover for the fetcher: one file, several full URLs (a FetchItem's `url` then its
`alternates`), tried in order.

Contracts:
- `failover(urls, attempt, log)` runs `attempt(url)` for each URL until one returns. A URL has
  failed for good when `attempt` raises FetchError: the fetcher has already retried it with
  backoff (unreachable, timeouts, 5xx, cut bodies), or it is final at once (404/410, other 4xx,
  a copy that does not verify: ChecksumError). Each move to the next mirror is one log line.
  Anything else (a full or unwritable cache: WorkspaceError; Ctrl-C; a cancelled download) is
  not the mirror's fault and is not caught here.
- `MirrorHealth` remembers the mirrors (scheme://host:port) that failed as a whole in this run
  (unreachable or erroring after the retries, any other refusal of a file but "not found"), so
  later files try them last, and the fetcher gives them one attempt without retries instead of
  paying the backoff again; a mirror that only lacks a file or serves one bad copy is not
  demoted.
- With one URL its error is raised unchanged. With several, the error names every mirror
  tried and why it failed, in one line of bounded length (at most MAX_LISTED mirrors, each
  reason at most MAX_REASON characters); it is a ChecksumError when every mirror served a
  copy that did not verify, else a FetchError.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from bootstrap.errors import ChecksumError, FetchError

T = TypeVar("T")
MAX_LISTED = 4
MAX_REASON = 160
MIRRORS_HINT = "every mirror failed: check the mirrors (--mirror, the repository configuration) and the network"


class NotThere(FetchError):
    """The mirror says it has no such file (404/410, a missing local file)."""


class MirrorHealth:
    """The mirrors that failed as a whole in this run (thread-safe: get_many's workers share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down: set[str] = set()

    def order(self, urls: Sequence[str]) -> list[str]:
        """`urls` once each, those of mirrors seen down moved to the end (order kept)."""
        unique = list(dict.fromkeys(urls))
        with self._lock:
            return [u for u in unique if _origin(u) not in self._down] + \
                   [u for u in unique if _origin(u) in self._down]

    def failed(self, url: str, exc: FetchError) -> None:
        """Note a failure; only one of the whole mirror (not a missing or bad file) demotes it."""
        if not isinstance(exc, (ChecksumError, NotThere)):
            self.down(url)

    def down(self, url: str) -> None:
        """The mirror serving `url` is down for the rest of this run."""
        with self._lock:
            self._down.add(_origin(url))

    def is_down(self, url: str) -> bool:
        with self._lock:
            return _origin(url) in self._down


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}" if parts.netloc else url


def failover(urls: Sequence[str], attempt: Callable[[str], T], log: Callable[[str], None],
             name: str = "", health: MirrorHealth | None = None) -> T:
    """The first result of `attempt(url)` over `urls` in order (see the module docstring)."""
    if health is not None:
        urls = health.order(urls)
    failures: list[tuple[str, FetchError]] = []
    for n, url in enumerate(urls):
        try:
            return attempt(url)
        except FetchError as exc:
            failures.append((url, exc))
            if health is not None:
                health.failed(url, exc)
            if n + 1 < len(urls):
                log(f"fetch: mirror {n + 1}/{len(urls)} failed for {name or url} ({_reason(exc, url)}); "
                    f"trying {urls[n + 1]}")
    if not failures:
        raise FetchError(f"cannot fetch {name or 'a file'}: no URL to fetch it from")
    if len(failures) == 1:
        raise failures[0][1]
    raise all_failed(name or failures[0][0], failures)


def all_failed(name: str, failures: Sequence[tuple[str, FetchError]]) -> FetchError:
    """One bounded line naming each mirror tried and why it failed."""
    shown = [f"{url[:200]} ({_reason(exc, url)})" for url, exc in failures[:MAX_LISTED]]
    more = len(failures) - MAX_LISTED
    if more > 0:
        shown.append(f"and {more} more")
    kind = ChecksumError if all(isinstance(exc, ChecksumError) for _, exc in failures) else FetchError
    return kind(f"cannot fetch {name[:200]} from any of {len(failures)} mirrors: {'; '.join(shown)}",
                hint=MIRRORS_HINT)


def _reason(exc: FetchError, url: str) -> str:
    """Why one mirror failed, without the URL its message already starts with."""
    text = exc.message.replace("\n", " ")
    for prefix in (f"cannot fetch {url}: ", f"{url}: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"
