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
- A mirror whose host cannot be reached at all (Unreachable) is named as such: `cannot reach
  HOST (name resolution failed)`, with mirror_hint's hint (how to give another mirror, and the
  layout it must have).
- With one mirror its error is raised unchanged (an unreachable one as above). With several,
  one error naming every mirror and why in one bounded line, of the gravest kind seen:
  VerificationError, then RepositoryIndexError, then RepositoryNotFound (some mirror lacks the
  repository and the rest were unreachable: an optional one is then skipped as usual), then
  FetchError.

Also here, for every family's index loading: `mirror_hint` and `reach_error` (the words of
those errors), and `sibling_arches`, the cheap look at a mirror that lacks the target's
architecture (its directory listing) that lets an error say which architectures it has.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from bootstrap.errors import (
    BootstrapError,
    FetchError,
    RepositoryIndexError,
    RepositoryNotFound,
    Unreachable,
    VerificationError,
)
from bootstrap.types import Fetcher, Log, Repository

if TYPE_CHECKING:
    from bootstrap.adapters import FamilyFacts

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
        one = replace(repo, url=mirror, alternates=())
        try:
            try:
                found = load(one)
            except Unreachable as exc:
                raise reach_error(one, exc) from None
        except _PASSED_OVER as exc:
            failures.append((mirror, exc))
            if n + 1 < len(mirrors):
                log(f"{repo.id}: mirror {mirror} failed ({_short(exc.message)}); trying {mirrors[n + 1]}")
            continue
        return found, mirror, tuple(mirrors[n + 1:])
    if len(failures) == 1:
        raise failures[0][1]
    raise all_failed(repo, failures)


def all_failed(repo: Repository, failures: Sequence[tuple[str, BootstrapError]]) -> BootstrapError:
    """One bounded error for every mirror of `repo` failing (the module docstring's kinds)."""
    shown = [f"{url[:200]} ({_short(exc.message)})" for url, exc in failures[:MAX_LISTED]]
    if len(failures) > MAX_LISTED:
        shown.append(f"and {len(failures) - MAX_LISTED} more")
    message = f"repository {repo.id}: none of {len(failures)} mirrors served it: {'; '.join(shown)}"
    errors = [exc for _, exc in failures]
    # Every one unreachable: what to do is to give a mirror that answers, laid out as they are.
    hint = "check the mirrors (--mirror) and the network"
    if all(isinstance(e, Unreachable) for e in errors) and errors[0].hint:
        hint = errors[0].hint
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


def layout_of(repo: Repository, url: str) -> str:
    """`url` as the layout any mirror of `repo` must have, the mirror's root written URL
    (`URL/v3.16/main/x86_64/APKINDEX.tar.gz`), from the repository's `mirror_layout` option
    (config); "" when the repository has none or `url` is not below its mirror's root."""
    layout = repo.option("mirror_layout")
    rest = layout.removeprefix("URL")
    base = repo.url.rstrip("/")
    if not layout or not base.endswith(rest.rstrip("/")):
        return ""
    root = base[:len(base) - len(rest.rstrip("/"))]
    return "URL" + url[len(root):] if root and url.startswith(root + "/") else ""


def mirror_hint(repo: Repository, url: str) -> str:
    """What to do about a mirror that does not serve `url` (the index's top file): how to give
    another one for `repo` (its `mirror_via` option: `--mirror URL or $VARIABLE`) and the
    layout that mirror must have."""
    via = repo.option("mirror_via")
    layout = layout_of(repo, url)
    hint = f"give another mirror with {via}" if via else "check the repository's URL and the network"
    return f"{hint}, laid out as {layout}" if layout else hint


def reach_error(repo: Repository, exc: Unreachable) -> Unreachable:
    """`cannot reach HOST (reason)`, with mirror_hint's hint for the file that was asked."""
    return Unreachable(f"cannot reach {exc.host} ({exc.reason})", hint=mirror_hint(repo, exc.url or repo.url),
                       url=exc.url, host=exc.host, reason=exc.reason)


def arch_words(facts: FamilyFacts) -> frozenset[str]:
    """Every architecture word of a family that can name a mirror's directory (its OCI and
    host words, as $basearch writes them), arch-independent ones aside."""
    words = set(facts.oci) | set(facts.host_arch.values()) | set(facts.machine)
    return frozenset({facts.basearch.get(w, w) for w in words} - facts.arch_independent - {""})


_HREF = re.compile(rb'href="([^"/?#]+)/"')


def sibling_arches(fetcher: Fetcher, url: str, arch: str, words: Collection[str]) -> tuple[str, tuple[str, ...]] | None:
    """(the directory holding `url`'s `arch` directory, the other `words` it lists as
    directories, sorted) from that directory's listing (an http index page, as vault.centos.org
    and dl-cdn.alpinelinux.org serve); None when the URL has no `arch` segment or there is no
    listing to read (a file:// mirror, a server that lists nothing). One small download."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if arch not in segments[:-1]:
        return None
    where = len(segments) - 1 - segments[::-1].index(arch)
    parent = urlunsplit(parts._replace(path="/".join(segments[:where]) + "/", query="", fragment=""))
    try:
        listing = fetcher.try_get_bytes(parent)
    except FetchError:
        return None
    if not listing:
        return None
    names = {unquote(m.decode("utf-8", "replace")) for m in _HREF.findall(listing)}
    return parent, tuple(sorted(w for w in words if w in names and w != arch))
