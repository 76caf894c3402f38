"""dpkg's rule for a path an earlier package of the build already unpacked (dpkg 1.21:
src/main/archives.c tarobject, does_replace).

For each entry of the new package B:
- a directory where a directory stands (symlinks followed, as merged-/usr's) is shared: no
  package's, nothing to check;
- otherwise every other package O that has the path is asked in turn: an instance of the same
  package (same name) when both are `Multi-Arch: same` shares it; B `Replaces: O` (the
  version O has meeting the relation) takes it over; `O Replaces: B` keeps it, and B's entry
  is not unpacked (nor listed as B's); else dpkg refuses B ("trying to overwrite '/x', which
  is also in package O 1.0", or "trying to overwrite directory '/x' in package O 1.0 with
  nondirectory"), and so does this tool: UnpackError before the entry is written.
A path taken over leaves O's file list, and a conffile of O's that B took is recorded in O's
status as `newconffile obsolete` (dpkg_db.register reads both off the manifests: the last
package whose manifest has a non-directory path owns it).

A path no package has (what the tool made, a seed's) is overwritten, conffile or not: dpkg
would unpack a conffile as PATH.dpkg-new and at --configure keep a different file that was
there (asking, or with --force-confdef/--force-confold; without a terminal it fails: "end of
file on stdin at conffile prompt"), leaving the package's as PATH.dpkg-dist. No build meets
that case (nothing but packages writes into /etc before the unpack phase), so it is not done.
Not done either, as no build meets them: diversions (a preinst's dpkg-divert runs, in this
tool's order, after every package is unpacked), the `Multi-Arch: same` content check between
instances (a bootstrap enables no foreign architecture: no two instances meet), and a package
whose every file was replaced disappearing from the database (dpkg's pkg_disappear).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bootstrap.adapters.apt.packages import compare_versions
from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import Package, Relation


@dataclass(frozen=True)
class Holder:
    """A package as dpkg's overwrite rule sees it."""

    name: str
    arch: str
    version: str
    multi_arch: str = ""
    replaces: tuple[Relation, ...] = ()

    @classmethod
    def of(cls, pkg: Package) -> Holder:
        return cls(pkg.name, pkg.arch, pkg.version, pkg.multi_arch, tuple(pkg.replaces))

    def does_replace(self, old: Holder) -> bool:
        """dpkg's does_replace: a Replaces naming `old` whose version constraint `old` meets."""
        return any(rel.name == old.name and _meets(old.version, rel) for rel in self.replaces)


def _meets(version: str, rel: Relation) -> bool:
    """`version` meets `rel`'s constraint (parse_relations' words: << → <, >> → >)."""
    if rel.op is None or rel.version is None:
        return True
    c = compare_versions(version, rel.version)
    return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}.get(rel.op, False)


class Holders:
    """Root-relative path → the packages of this build that have it, as dpkg's file database
    would list them: every package that unpacked a directory, and the one that has anything
    else (or its `Multi-Arch: same` instances)."""

    def __init__(self) -> None:
        self._dirs: dict[str, list[Holder]] = {}
        self._files: dict[str, list[Holder]] = {}

    def skipper(self, new: Holder, root: Root) -> Callable[[str, str], bool]:
        """The unpacker's `skip` for `new` (see the module docstring): True for an entry an
        earlier package keeps, UnpackError for one dpkg refuses. Each entry unpacked is
        recorded as `new`'s. The disk is only looked at where two packages meet."""
        def skip(rel: str, kind: str) -> bool:
            if kind == "dir":
                others = self._files.get(rel, [])
                if not others or root.is_dir(rel):  # a directory (or a link to one) is shared
                    self._dirs.setdefault(rel, []).append(new)
                    return False
            else:
                others = self._files.get(rel, []) + self._dirs.get(rel, [])
            if self._kept(new, others, rel, kind, root):
                return True
            if kind == "dir":
                self._files.pop(rel, None)
                self._dirs.setdefault(rel, []).append(new)
            else:
                self._files[rel] = [h for h in self._files.get(rel, []) if _shares(h, new)] + [new]
            return False
        return skip

    @staticmethod
    def _kept(new: Holder, others: list[Holder], rel: str, kind: str, root: Root) -> bool:
        """dpkg's loop over the other packages that have `rel`: whether one keeps it from
        `new`; UnpackError at the first that neither replaces nor is replaced."""
        keep = False
        for old in others:
            if (old.name, old.arch) == (new.name, new.arch) or _shares(old, new):
                continue
            if kind == "dir" and not root.lexists(rel):
                continue  # dpkg assumes a shared directory
            if new.does_replace(old):
                continue
            if old.does_replace(new):
                keep = True
                continue
            raise _refusal(new, old, rel, root.is_dir(rel) and not root.is_symlink(rel))
        return keep


def _shares(old: Holder, new: Holder) -> bool:
    """Instances of one `Multi-Arch: same` package share their files."""
    return old.name == new.name and old.multi_arch == new.multi_arch == "same"


def _refusal(new: Holder, old: Holder, rel: str, over_dir: bool) -> UnpackError:
    """dpkg's words for a path two packages have without a Replaces."""
    if over_dir:
        what = f"trying to overwrite directory '/{rel}' in package {old.name} {old.version} with nondirectory"
    else:
        what = f"trying to overwrite '/{rel}', which is also in package {old.name} {old.version}"
    return UnpackError(f"package {new.name}: {what}",
                       hint="dpkg refuses this too: the packages conflict (a Replaces in either one "
                            "would settle it)")
