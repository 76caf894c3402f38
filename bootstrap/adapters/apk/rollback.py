"""An Alpine repository's APKINDEX must not go backwards: what can honestly be compared.

A frozen or replaying mirror serves an old APKINDEX.tar.gz with its valid old signature, and
with it old packages (each vouched for by that old index). apk-tools itself has no defence:
APKINDEX carries no Date, no Valid-Until and no revision. What it does carry, signed:

- the signature covers the *compressed* control stream, tar headers included; `apk index`
  stamps its DESCRIPTION and APKINDEX entries with the time it ran (SOURCE_DATE_EPOCH when the
  builder set one). Alpine's own indexes do (3.16: 1669068262, 3.17: 1685173753 in the real
  files under ../shared/realdata/apk). That is a build time no mirror can change without the
  key, and it only grows: it is compared (bootstrap.freshness, per index URL), and an older one
  is refused, as apt refuses a Release older than the one it has;
- apko and melange (Wolfi, Chainguard) write 0 there: such an index has nothing to compare and
  is neither checked nor recorded (a gap this tool cannot close; their indexes are not signed
  with any date at all).

What is not compared, and why:
- DESCRIPTION (`v3.16.3-123-gabcdef`, aports' `git describe`): free text, empty from apko,
  set by hand elsewhere; its order is a guess, and a wrong guess locks a cache out.
- Per-package versions ("a package offered lower than this cache's last index offered"): the
  index is signed as one piece, so a mirror cannot mix old and new stanzas; a package rolled
  back means the whole index rolled back, which the build time above catches. Keeping every
  version of some 20,000 packages per repository would cost a large state file, and would
  refuse Alpine's legitimate reverts (an upgrade pulled back to the previous version).
- The newest `t:` (package build time) of the index: a newer index that drops a package (a
  removal, a revert) can lower it; it would refuse a current index.
- Packages need no own check: an .apk must match the C: (control stream SHA-1) of the verified
  index in use, and its files the `datahash` of that control stream, so an old package cannot
  be passed off under the current index.

Only a verified index (not --no-verify) is compared and recorded.
"""
from __future__ import annotations

from datetime import UTC, datetime

from bootstrap.freshness import Mark, Seen
from bootstrap.types import Fetcher

_LAST = 253402300799  # 9999-12-31: what datetime can show


def check_index_freshness(url: str, built: int, fetcher: Fetcher) -> None:
    """Refuse a verified index at `url` built (index.IndexFile.built) before the one this
    cache saw there (StaleIndex); record its build time. Call only for an index whose
    signature verified."""
    seen = Seen.of(fetcher)
    if seen is None or built <= 0:
        return
    when = datetime.fromtimestamp(min(built, _LAST), UTC)
    mark = Mark("build time", built, f"{when:%Y-%m-%d %H:%M:%S} UTC")
    seen.advance(url, [mark], f"the APKINDEX at {url}")
