"""apk's version ordering, as apk-tools 2.x (version.c) computes it, and its relation matching.

A version is `digit{.digit}...{letter}{_suffix{number}}...{-rN}`:

- numbers compare numerically, except that a component after a dot that starts with zeros is
  "zero-led" and sorts below every plain number (`1.01 < 1.1`, the Gentoo rule apk keeps);
- one lower-case letter may follow the numbers (`1.2a < 1.2b`);
- suffixes `_alpha < _beta < _pre < _rc` sort *below* the bare version, `_cvs < _svn < _git <
  _hg < _p` above it, each optionally numbered (`_rc2`);
- `-rN` is the packaging revision.

When one version is a prefix of the other, the longer one is newer unless what follows is a
pre-release suffix. A malformed tail stops the comparison where it starts (apk does the same;
it never raises), so an odd version in an index never breaks a build; a run of more than 1,000
digits is malformed. Digits are ASCII only, as apk's isdigit. Time is linear in the length.

`~` (fuzzy) matches when the versions agree on every component the shorter one has:
`1.2.3-r0 ~ 1.2` holds. Pure functions; no I/O.
"""
from __future__ import annotations

from bootstrap.adapters.apk.facts import ARCH_INDEPENDENT
from bootstrap.types import ResolvePolicy, VersionScheme

# Token kinds, in the order apk ranks them when one version ends where the other goes on.
_INVALID, _DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION, _END = range(-1, 7)

_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")

# (next, previous) kinds that go "backwards" in the kind order but are still well formed.
_ALLOWED_BACK = {(_DIGIT_OR_ZERO, _DIGIT), (_SUFFIX, _SUFFIX_NO), (_DIGIT, _LETTER)}
# A longer run of digits is a malformed tail (int() refuses past 4,300; no version has 100).
_MAX_DIGITS = 1000


def _is_digit(ch: str) -> bool:
    # ASCII only, as apk's isdigit: int() refuses other Unicode digits str.isdigit accepts (`²`).
    return "0" <= ch <= "9"


class _Cursor:
    """Reads one version string token by token, tracking what kind comes next."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.kind = _DIGIT

    def _advance_kind(self) -> None:
        """Decide the kind of the next token from the separator at the cursor."""
        ch = self.text[self.pos] if self.pos < len(self.text) else ""
        prev = self.kind
        new = _INVALID
        if not ch:
            new = _END
        elif prev in (_DIGIT, _DIGIT_OR_ZERO) and ch.islower() and ch.isascii():
            new = _LETTER
        elif prev == _LETTER and _is_digit(ch):
            new = _DIGIT
        elif prev == _SUFFIX and _is_digit(ch):
            new = _SUFFIX_NO
        else:
            if ch == ".":
                new = _DIGIT_OR_ZERO
            elif ch == "_":
                new = _SUFFIX
            elif ch == "-" and self.text[self.pos + 1:self.pos + 2] == "r":
                new = _REVISION
                self.pos += 1
            self.pos += 1
        if new < prev and (new, prev) not in _ALLOWED_BACK:
            new = _INVALID
        self.kind = new

    def _digits(self) -> int | None:
        """The number at the cursor (ASCII digits, as apk's isdigit); None past _MAX_DIGITS."""
        start = self.pos
        while self.pos < len(self.text) and _is_digit(self.text[self.pos]):
            self.pos += 1
        if self.pos - start > _MAX_DIGITS:
            return None
        return int(self.text[start:self.pos] or "0")

    def token(self) -> int:
        """The value of the token at the cursor; moves past it and sets the next kind."""
        if self.pos >= len(self.text):
            self.kind = _END
            return 0
        forced = None
        kind = self.kind
        if kind == _DIGIT_OR_ZERO and self.text[self.pos] == "0":
            # Zero-led components rank below plain numbers, more zeros lower still.
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] == "0":
                self.pos += 1
            value, forced = -(self.pos - start), _DIGIT
        elif kind in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION):
            number = self._digits()
            if number is None:
                self.kind = _INVALID
                return -1
            value = number
        elif kind == _LETTER:
            value = ord(self.text[self.pos])
            self.pos += 1
        elif kind == _SUFFIX:
            suffix = self._suffix()
            if suffix is None:
                self.kind = _INVALID
                return -1
            value = suffix
        else:
            self.kind = _INVALID
            return -1
        if self.pos >= len(self.text):
            self.kind = _END
        elif forced is not None:
            self.kind = forced
        else:
            self._advance_kind()
        return value

    def _suffix(self) -> int | None:
        for i, name in enumerate(_PRE_SUFFIXES):
            if self.text.startswith(name, self.pos):
                self.pos += len(name)
                return i - len(_PRE_SUFFIXES)
        for i, name in enumerate(_POST_SUFFIXES):
            if self.text.startswith(name, self.pos):
                self.pos += len(name)
                return i
        return None


def _compare(a: str, b: str, fuzzy: bool) -> int:
    ca, cb = _Cursor(a), _Cursor(b)
    av = bv = 0
    while ca.kind == cb.kind and ca.kind not in (_END, _INVALID) and av == bv:
        av = ca.token()
        bv = cb.token()
    if av != bv:
        return -1 if av < bv else 1
    if ca.kind == cb.kind or fuzzy:
        return 0
    # Equal so far and one goes on: longer is newer, unless it goes on with a pre-release.
    if ca.kind == _SUFFIX and _peek_suffix(ca) < 0:
        return -1
    if cb.kind == _SUFFIX and _peek_suffix(cb) < 0:
        return 1
    if ca.kind > cb.kind:
        return -1
    if cb.kind > ca.kind:
        return 1
    return 0


def _peek_suffix(cursor: _Cursor) -> int:
    probe = _Cursor(cursor.text)
    probe.pos, probe.kind = cursor.pos, cursor.kind
    return probe.token()


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as apk orders `a` against `b`."""
    return _compare(a, b, False)


def valid_version(text: str) -> bool:
    """Whether apk would accept `text` as a version (apk_version_validate)."""
    cursor = _Cursor(text)
    while cursor.kind not in (_END, _INVALID):
        cursor.token()
    return cursor.kind == _END


def version_matches(version: str, op: str, wanted: str) -> bool:
    """Whether a package of `version` meets `op wanted` (`~` is apk's fuzzy prefix match)."""
    if op == "~":
        return _compare(version, wanted, True) == 0
    c = _compare(version, wanted, False)
    return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}.get(op, False)


# How apk-tools' solver (solver.c) differs from apt's, for the resolver (types.ResolvePolicy):
# a name has one provider unless every provider of it is unversioned (assign_name); an
# unversioned virtual name with several providers needs a provider_priority to be picked
# (select_package); providers rank by the version they provide, then provider_priority
# (compare_providers); names with a single option are resolved before the others, then in
# compare_name_dequeue's order (decide_by_name).
APK_POLICY = ResolvePolicy(exclusive_names=True, refuse_unranked_virtual=True,
                           provider_order="provided-version", depth_first=False, defer_choices=True,
                           decide_by_name=True)


# apk installs only the target's own architecture, plus arch-independent `noarch` packages.
def apk_version_scheme(arch: str) -> VersionScheme:
    """The VersionScheme the resolver uses for an Alpine tree of `arch`."""
    def rank(pkg_arch: str) -> int | None:
        if pkg_arch == arch:
            return 2
        return 1 if pkg_arch in ("noarch", "") else None

    return VersionScheme(compare=compare_versions, arch_rank=rank, satisfies=version_matches,
                         arch_independent=ARCH_INDEPENDENT, policy=APK_POLICY)
