"""What rpm does with a path another package of the same transaction, or the disk, already has
(rpm 4.18: lib/transaction.c handleOverlappedFiles and handleColorConflict, lib/rpmfi.c
rpmfilesCompare and rpmfilesConfigConflict).

A build installs its whole set as one fresh transaction into an empty root, so:

- Two packages shipping one path are compared by their headers (rpmfilesCompare): never a
  conflict when either file is a %ghost; else they differ when their types, a regular file's
  digest or a symlink's target differ, and, since rpm 4.11 (2012), also their mode (but between
  two symlinks), size, user, group or device numbers. Differing files of different colors
  (FILECOLORS: 1 ELF32, 2 ELF64; a multilib build's i686 and x86_64 packages) are settled for
  the 64-bit one, whichever comes first (rpm's %_prefer_color 2, on x86_64, ppc64 and s390x
  alike): a 32-bit file over it is left out, a 64-bit one replaces it. Any other difference is
  a conflict rpm refuses ("file X conflicts between attempted installs of B and A"), and so
  does this tool: UnpackError before the file is written. Identical files: since 4.11 only the
  first package's copy is created (the later one is left out, so its mtime is the first's);
  before, each one is written in turn. Which rules apply is read from the package being
  unpacked: built by rpm >= 4.11 (RPMVERSION), the release it belongs to installs with one too.
  %config makes no difference here: rpm decides a config file's fate against the disk as it
  was before the transaction, which held neither.
- A path already on disk that no package of the build brought (nothing in a build makes one
  today; a seed or a hook before unpacking would): a %config regular file or symlink that is
  not what the package has (rpmfilesConfigConflict: type, size, digest or target) is kept and
  the package's written as PATH.rpmnew when it is %config(noreplace) ("created as"), and moved
  to PATH.rpmorig before the package's is written when plain %config ("saved as"); anything
  else is replaced. (.rpmsave is what an upgrade or erase makes of a changed config file: no
  fresh install makes one.)

Kept from before, against rpm: a directory where an earlier package placed a symlink is not a
conflict here (rpm 4.18 refuses it, every rpm does: the types differ); the unpacker keeps the
link and writes the directory's entries through it, inside the root, as it does for a
merged-/usr link (bootstrap.unpack.write; tests/hardening's test_through_an_earlier_link).

Not done: rpm finds overlaps by fingerprint, through directory symlinks the transaction makes
(a package's /lib/x and another's /usr/lib/x under a /lib -> usr/lib link); here paths are
compared as the headers name them. A path both on disk before and brought by two packages is
judged as if the disk had not had it for the second one. A hard-linked file of a package is
written even when identical to another package's (leaving one name of a link set out would
break the set as the cpio carries it).
"""
from __future__ import annotations

import hashlib
import stat
from collections import Counter
from dataclasses import dataclass

from bootstrap.adapters.yum.header import FILE_NOREPLACE, FILEDIGESTALGO, RpmFile, RpmFileInfo
from bootstrap.adapters.yum.payload import header_path
from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import Log

# rpm's PGPHASHALGO numbers (FILEDIGESTALGO; MD5 without the tag) → hashlib names.
_DIGESTS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
_STRICT_SINCE = (4, 11)  # rpm 4.11: conflicts on differing permissions, the first copy only
_PREFER_COLOR = 2
_COLORS = 3  # the transaction color of a multilib platform (%_transaction_color 3)
_WRITTEN = frozenset({"file", "symlink", "hardlink"})


@dataclass(frozen=True)
class Claim:
    """A path as one package of the build brought it: that package and its header's entry."""

    nevra: str
    info: RpmFileInfo
    digest_algo: int


def differ(a: RpmFileInfo, a_algo: int, b: RpmFileInfo, b_algo: int, strict: bool) -> bool:
    """rpmfilesCompare: whether two header entries are different files (`strict`: rpm >= 4.11)."""
    if a.is_ghost or b.is_ghost:
        return False
    a_type, b_type = stat.S_IFMT(a.mode), stat.S_IFMT(b.mode)
    if not strict and a_type != b_type:
        return True
    if strict:
        both_links = a_type == b_type == stat.S_IFLNK
        if not both_links and a.mode != b.mode:
            return True
        if a_type in (stat.S_IFREG, stat.S_IFLNK) and a.size != b.size:
            return True
        if (a.user, a.group) != (b.user, b.group):
            return True
    if a_type == stat.S_IFLNK:
        return a.linkto != b.linkto
    if a_type == stat.S_IFREG:
        return a_algo != b_algo or a.digest.lower() != b.digest.lower()
    if strict and a_type in (stat.S_IFCHR, stat.S_IFBLK):
        return a.rdev != b.rdev
    return False


def config_conflict(root: Root, rel: str, info: RpmFileInfo, algo: int) -> bool:
    """rpmfilesConfigConflict for a %config regular file or symlink: whether what stands at
    `rel` (never followed) is not the package's file."""
    try:
        st = root.lstat(rel)
    except (FileNotFoundError, NotADirectoryError):
        return False
    new_type = stat.S_IFMT(info.mode)
    if stat.S_IFMT(st.st_mode) != new_type or st.st_size != info.size:
        return True
    if new_type == stat.S_IFLNK:
        return root.readlink(rel) != info.linkto
    digest = hashlib.new(_DIGESTS.get(algo, "md5"))
    with root.open_read(rel) as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest() != info.digest.lower()


class FileClaims:
    """Every path a package of this build brought, by the package that brought it first."""

    def __init__(self) -> None:
        self._by_path: dict[str, Claim] = {}

    def plan(self, rpm: RpmFile, root: Root, log: Log) -> PackageFiles:
        """The unpacker's hooks for one package (see PackageFiles)."""
        return PackageFiles(self._by_path, rpm, root, log)


class PackageFiles:
    """For one package: `skip` (an overlap settled as rpm settles it, or refused), `divert`
    (a path already on disk: .rpmnew, or the file there moved to .rpmorig) and `source(path)`
    (the header's path of what was written at `path`). Each path the package writes is
    claimed for it as it is written."""

    def __init__(self, claims: dict[str, Claim], rpm: RpmFile, root: Root, log: Log) -> None:
        self._claims, self._root, self._log = claims, root, log
        self._nevra = rpm.nevra
        self._files = {header_path(f.path): f for f in rpm.files()}
        self._algo = (rpm.header.ints(FILEDIGESTALGO) or [1])[0]
        self._strict = rpm.rpm_version >= _STRICT_SINCE
        inodes = Counter(f.inode for f in self._files.values() if stat.S_ISREG(f.mode))
        self._linked = {i for i, n in inodes.items() if n > 1} if 0 not in inodes else None
        self._moved: dict[str, str] = {}  # PATH.rpmnew → PATH
        self._first: set[str] = set()  # paths no earlier package of the build brought

    def skip(self, rel: str, kind: str) -> bool:
        """True for an entry rpm does not create (a 32-bit file where a 64-bit one is, the
        later copy of an identical file); UnpackError for a conflict."""
        info = self._files.get(rel)
        if info is None or info.is_ghost:
            return False  # the header's `declare` refuses or leaves it out
        old = self._claims.get(rel)
        if old is not None and kind == "dir" and stat.S_ISLNK(old.info.mode):
            return False  # this tool's own rule, kept (see the module docstring)
        if old is None or old.info.is_ghost:
            if old is None:
                self._first.add(rel)
            self._claims[rel] = Claim(self._nevra, info, self._algo)
            return False
        if not differ(old.info, old.digest_algo, info, self._algo, self._strict):
            # The same file: since 4.11 only the first copy is created (a directory is there
            # anyway; a hard-link set is written whole).
            return self._strict and kind != "dir" and not self._hard_linked(info)
        winner = _color_winner(old.info.color, info.color)
        if winner is None:
            # rpm's own words (RPMPROB_NEW_FILE_CONFLICT: the package installed later first).
            raise UnpackError(f"package {self._nevra}: file /{rel} conflicts between attempted installs of "
                              f"{self._nevra} and {old.nevra}",
                              hint="rpm refuses this transaction too: the two packages ship different files "
                                   "at that path")
        if winner == "old":
            return True
        self._claims[rel] = Claim(self._nevra, info, self._algo)
        return False

    def _hard_linked(self, info: RpmFileInfo) -> bool:
        return self._linked is None or info.inode in self._linked

    def divert(self, rel: str, kind: str) -> str | None:
        """A %config file where a file no package of the build brought stands and differs:
        PATH.rpmnew for %config(noreplace); for plain %config that file is moved to
        PATH.rpmorig first and None is returned (the package's goes to its path)."""
        info = self._files.get(rel)
        if info is None or not info.is_config or info.is_ghost or kind not in _WRITTEN:
            return None
        if rel not in self._first or not config_conflict(self._root, rel, info, self._algo):
            return None
        if info.flags & FILE_NOREPLACE:
            self._log(f"warning: /{rel} created as /{rel}.rpmnew")
            self._moved[f"{rel}.rpmnew"] = rel
            return f"{rel}.rpmnew"
        self._log(f"warning: /{rel} saved as /{rel}.rpmorig")
        _move_aside(self._root, rel, f"{rel}.rpmorig")
        return None

    def source(self, path: str) -> str:
        """The header path of the entry written at root-relative `path`."""
        return self._moved.get(path, path)


def _move_aside(root: Root, rel: str, backup: str) -> None:
    """What stands at `rel` moved to `backup` (replacing a file there), as rpm's FA_BACKUP."""
    root.rename(rel, backup)


def _color_winner(old: int, new: int) -> str | None:
    """handleColorConflict: "new" or "old" when the colors settle two differing files."""
    old, new = old & _COLORS, new & _COLORS
    if not old or not new or old == new:
        return None
    if new & _PREFER_COLOR:
        return "new"
    if old & _PREFER_COLOR:
        return "old"
    return None
