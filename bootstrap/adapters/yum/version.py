"""rpm's version ordering (rpmvercmp, EVR, dependency ranges) and yum's architecture ranking. Pure.

Versions travel through the pipeline as `[epoch:]version[-release]` strings (epoch 0 omitted).

- `rpmvercmp(a, b)` is rpm's own segment comparison (lib/rpmvercmp.c, rpm >= 4.15): runs of
  digits compare numerically and beat runs of letters; anything not alphanumeric separates;
  `~` sorts before everything (even the end of the string), `^` after the end but before
  any other segment.
- `compare_evr(a, b)` orders full EVRs: epoch (missing = 0), then version, then release.
- `evr_satisfies(version, op, wanted)` is how rpm matches a dependency range: when `wanted`
  has no release, releases are not compared (`foo >= 1.0` accepts 1.0-5); a candidate
  without release meets every range at its version (`Provides: foo = 1.0` meets `foo > 1.0-5`).
- `arch_rank(target, multilib)` ranks package architectures as yum does on a modern CPU:
  on an i386 tree i686 > i586 > i486 > i386 > noarch; on x86_64, x86_64 > noarch, and the
  i?86 ones only with multilib (ranked below noarch, so a 64-bit build is always preferred).
"""
from __future__ import annotations

from collections.abc import Callable

from bootstrap.adapters.yum.facts import ARCH_INDEPENDENT
from bootstrap.types import ResolvePolicy, VersionScheme

_X86_32 = ("i386", "i486", "i586", "i686")


def _alnum(ch: str) -> bool:
    # rpm's risalnum is ASCII-only: every other byte (UTF-8 included) is a separator.
    return ch.isascii() and ch.isalnum()


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def rpmvercmp(a: str, b: str) -> int:
    """-1, 0 or 1 as rpm's rpmvercmp(a, b)."""
    if a == b:
        return 0
    i, j, la, lb = 0, 0, len(a), len(b)
    while i < la or j < lb:
        while i < la and not _alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < lb and not _alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca, cb = a[i] if i < la else "", b[j] if j < lb else ""
        if ca == "~" or cb == "~":  # tilde: sorts before anything, even the end
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":  # caret: after the end, before any other segment
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        isnum = "0" <= ca <= "9"
        test = _digit if isnum else _alpha
        si, sj = i, j
        while i < la and test(a[i]):
            i += 1
        while j < lb and test(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_a:
            return -1  # rpm: "arbitrary"
        if not seg_b:
            return 1 if isnum else -1
        if isnum:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def split_evr(evr: str) -> tuple[str, str, str | None]:
    """(epoch, version, release or None) of `[epoch:]version[-release]`; epoch "" when absent."""
    epoch, _, rest = evr.rpartition(":") if ":" in evr else ("", "", evr)
    version, sep, release = rest.rpartition("-")
    if not sep:
        return epoch, rest, None
    return epoch, version, release


def format_evr(epoch: str | None, version: str, release: str | None) -> str:
    """`[epoch:]version[-release]`, epoch 0 (or none) omitted as yum prints it."""
    text = version if not release else f"{version}-{release}"
    return f"{epoch}:{text}" if epoch and epoch != "0" else text


def _epoch(text: str) -> tuple[int, str]:
    """An epoch as a sort key, in numeric order at any length (int() refuses past 4,300
    digits); ASCII digits only (int() refuses the other Unicode digits str.isdigit accepts,
    `²`); anything else is 0."""
    digits = text.lstrip("0") if text.isascii() and text.isdigit() else ""
    return len(digits), digits


def compare_evr(a: str, b: str) -> int:
    """Order two EVR strings as rpm does (missing epoch = 0)."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    if _epoch(ea) != _epoch(eb):
        return 1 if _epoch(ea) > _epoch(eb) else -1
    c = rpmvercmp(va, vb)
    if c:
        return c
    return rpmvercmp(ra or "", rb or "")


def evr_satisfies(version: str, op: str, wanted: str) -> bool:
    """Whether a package or provide of `version` (an `=`) meets `op wanted`. rpm's rule when
    epoch and version are equal and only one side has a release (lib/rpmds.c rpmdsCompareEVR,
    "always matches if the side with no release has SENSE_EQUAL"; libsolv's pool_intersect_evrs
    on EVRCMP_MATCH_RELEASE's ±2): a `version` without release meets every op (it is the `=`
    side), a `wanted` without release is met by every release of it for `=`, `<=`, `>=`."""
    ea, va, ra = split_evr(version)
    eb, vb, rb = split_evr(wanted)
    c = (_epoch(ea) > _epoch(eb)) - (_epoch(ea) < _epoch(eb))
    if not c:
        c = rpmvercmp(va, vb)
    if not c and ra is None and rb is not None:
        return op in ("<", "<=", "=", ">=", ">")
    if not c and ra is not None and rb is not None:
        c = rpmvercmp(ra, rb)
    return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}.get(op, False)


def arch_rank(target: str, multilib: bool = False) -> Callable[[str], int | None]:
    """The ranking function for a tree of `target` architecture (see the module docstring)."""
    if target in _X86_32:
        # A modern CPU runs every i?86 build; the most specific wins (yum's canonArch i686).
        ranks = {"noarch": 1, "i386": 2, "i486": 3, "i586": 4, "i686": 5}
    elif target == "x86_64":
        ranks = {"noarch": 1, "x86_64": 10}
        if multilib:
            ranks.update({"i386": 0, "i486": 0, "i586": 0, "i686": 0})
    elif target == "ppc64":
        ranks = {"noarch": 1, "ppc64": 10, **({"ppc": 0} if multilib else {})}
    else:
        ranks = {"noarch": 1, target: 10}
    return ranks.get


# How libsolv (dnf, zypper) chooses, for the resolver (types.ResolvePolicy): providers rank by
# name once obsoleted ones, older versions and lower provided versions are put back
# (policy.c policy_filter_unwanted); a rule with several names to choose from is postponed
# (solver.c resolve_dependencies). Several packages may provide one name: no implicit conflict.
# A provide without a version meets any versioned requirement of its name (rpmdsCompare).
# Weak dependencies steer its choices (policy.c prune_to_recommended, prefer_suggested), and a
# found solution is minimized (solver.c solver_run_sat: a choice whose other candidate got in).
RPM_POLICY = ResolvePolicy(provider_order="by-name", unversioned_provides_all=True, depth_first=False,
                           defer_choices=True, weak_hints=True, minimize=True)


# rpm's 64-bit architectures (rpmrc's arch colours); everything else but noarch is 32-bit.
_64BIT = frozenset({"x86_64", "amd64", "ia32e", "aarch64", "ppc64", "ppc64le", "ppc64p7", "s390x", "sparc64",
                    "sparc64v", "alpha", "alphaev6", "ia64", "mips64", "mips64el", "riscv64", "loongarch64"})


def arch_color(arch: str) -> int:
    """The word size a build is for: 0 (noarch), 32 or 64 (libsolv's pool_arch2color)."""
    if arch in ARCH_INDEPENDENT:
        return 0
    return 64 if arch in _64BIT else 32


def rpm_version_scheme(target: str, multilib: bool = False) -> VersionScheme:
    """The VersionScheme the resolver uses for an rpm tree of `target` architecture."""
    return VersionScheme(compare=compare_evr, arch_rank=arch_rank(target, multilib),
                         satisfies=evr_satisfies, arch_independent=ARCH_INDEPENDENT, policy=RPM_POLICY,
                         arch_color=arch_color)
