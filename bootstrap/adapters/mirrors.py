"""Index failover for families whose repository is one URL tree (apt, apk): the repository's
`url`, then its `alternates` (repos.d `url = A B`, or `--mirror` given again), in order.

Contract of `load_from_mirrors(repo, load, log)`:
- `load(repo on mirror)` is called with the repository moved to each mirror in turn (its
  `url` replaced, no alternates) until one returns; the result comes back with the mirror used
  and the mirrors after it (what the packages' downloads fail over to, in RepoTrust.mirrors).
  Mirrors that failed for the index are not among them: a dead host would cost every package
  its retries.
- A mirror is passed over, with one log line, when its index cannot be had (FetchError: down,
  erroring, a copy that does not verify), it lacks the repository (RepositoryNotFound), the
  index does not verify or is stale (VerificationError), or it is corrupt (RepositoryIndexError).
  Every copy is checked as fully as a single mirror's, so passing one over trusts nothing less.
  Anything else (a full disk, Ctrl-C) stops at once.
- With one mirror its error is raised unchanged. With several, one error naming every mirror
  and why in one bounded line, of the gravest kind seen: VerificationError, then
  RepositoryIndexError, then RepositoryNotFound (some mirror lacks the repository and the rest
  were unreachable: an optional one is then skipped as usual), then FetchError.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from bootstrap.errors import (
    BootstrapError,
    FetchError,
    RepositoryIndexError,
    RepositoryNotFound,
    VerificationError,
)
from bootstrap.types import Log, Repository

T = TypeVar("T")
MAX_LISTED = 4
MAX_REASON = 160
_PASSED_OVER = (FetchError, RepositoryIndexError, VerificationError)


def load_from_mirrors(repo: Repository, load: Callable[[Repository], T],
                      log: Log) -> tuple[T, str, tuple[str, ...]]:
    """(load's result, the mirror that served it, the mirrors after it): see the module docstring."""
    mirrors = list(dict.fromkeys((repo.url, *repo.alternates)))
    failures: list[tuple[str, BootstrapError]] = []
    for n, mirror in enumerate(mirrors):
        try:
            found = load(replace(repo, url=mirror, alternates=()))
        except _PASSED_OVER as exc:
            failures.append((mirror, exc))
            if n + 1 < len(mirrors):
                log(f"{repo.id}: mirror {mirror} failed ({_short(exc.message)}); trying {mirrors[n + 1]}")
            continue
        return found, mirror, tuple(mirrors[n + 1:])
    if len(failures) == 1:
        raise failures[0][1]
    raise _all_failed(repo, failures)


def _all_failed(repo: Repository, failures: Sequence[tuple[str, BootstrapError]]) -> BootstrapError:
    shown = [f"{url[:200]} ({_short(exc.message)})" for url, exc in failures[:MAX_LISTED]]
    if len(failures) > MAX_LISTED:
        shown.append(f"and {len(failures) - MAX_LISTED} more")
    message = f"repository {repo.id}: none of {len(failures)} mirrors served it: {'; '.join(shown)}"
    hint = "check the mirrors (--mirror) and the network"
    errors = [exc for _, exc in failures]
    for kind in (VerificationError, RepositoryIndexError):
        if any(isinstance(exc, kind) and not isinstance(exc, RepositoryNotFound) for exc in errors):
            return kind(message, hint=hint)
    if any(isinstance(exc, RepositoryNotFound) for exc in errors):
        # Mirrors are copies of one archive: one that answers "no such repository" speaks for
        # it, the unreachable ones say nothing.
        return RepositoryNotFound(message, hint="check the mirrors (--mirror) and the release")
    return FetchError(message, hint=hint)


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"
