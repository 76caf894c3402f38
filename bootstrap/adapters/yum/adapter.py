"""The yum family (CentOS 2.1–8, Fedora Core 1 onwards, Rocky, Alma): repodata/, .rpm, rpm's DB.

Formats live in the modules beside this one: repomd (repomd.xml, compressions, comps),
primary (primary.xml, primary.sqlite, filelists), richdep, version (rpmvercmp, arch ranking),
header (.rpm headers), caps (file capabilities), rpmdb (database and scriptlets), signature
(package signatures) and spec (--buildrequires); repo fetches a repository's metadata. This
module decides what a yum user expects of each phase, and touches the tree only through the
`Root` it is handed.

- load: repodata/repomd.xml from the first of baseurl, its failovers and the mirrorlist that
  answers; repomd.xml.asc verified against the repository's keys when it exists (required when
  repo_gpgcheck=1); primary (xml in any compression, else primary_db) fetched and checked
  against repomd's checksum, then parsed. A tree without repodata/ (CentOS 2.1-3.x, Fedora
  Core 1-2) is read from headers/header.info, else <Vendor>/base/hdlist, else its RPMS/ listing
  (legacy.py); its packages are then also held to the header they were resolved from.
- Index-phase hooks (the Adapter contract):
  `expand_requests(names, universe, fetcher) -> names` turns `@group` / `@^environment` into the comps
  group's mandatory + default packages (comps fetched only then);
  `complete_universe(universe, names, fetcher, log) -> universe` reads filelists, only when a file
  dependency reachable from `names` is not met by any package's primary file list or provides
  (createrepo keeps only /etc, *bin/ and /usr/lib/sendmail in primary), and returns the universe
  with the owners' `files` completed for those paths. Call it after loading every repository
  and before resolving.
- check_payload: header name/EVR/arch must be the index's; digests always; signatures when the
  repository says gpgcheck=1 (the default) and --no-verify was not given.
- unpack: the cpio payload through the Unpacker with the header deciding each entry's type,
  mode and link target (payload.declared_by: what rpm's fsm does; an entry the header does
  not list is refused), each regular file checked against the header's SHA-256, then owners
  from the header (FILEUSERNAME/FILEGROUPNAME through the root's own /etc/passwd and
  /etc/group), file capabilities as security.capability; %ghost files are never created (rpm
  does not either). A path an earlier package of the build brought is settled as rpm settles
  it in one transaction (files.py: identical files shared, multilib colors, else a conflict
  that fails the build); a %config file over one already on disk goes to .rpmnew/.rpmorig.
- register writes nothing (a host rpm cannot write the database an old target reads); configure
  has the target's own rpm install every package again into its database, running the
  scriptlets (rpmdb). Without rpm in the set, scriptlets run through their interpreters and
  no database is written; the log says so.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bootstrap.adapters import Adapter, Installed, Runner
from bootstrap.adapters.yum import rpmdb
from bootstrap.adapters.yum.caps import XATTR, CapsError, capability_xattr
from bootstrap.adapters.yum.facts import FACTS
from bootstrap.adapters.yum.files import FileClaims
from bootstrap.adapters.yum.header import FILEDIGESTALGO, RpmFile, RpmFileInfo, read_rpm
from bootstrap.adapters.yum.headers import header_identity
from bootstrap.adapters.yum.legacy import HEADER_INFO, NOTICE, Legacy, load_legacy
from bootstrap.adapters.yum.payload import declared_by, extract_rpm, header_path
from bootstrap.adapters.yum.repo import (
    RepoState,
    complete_files,
    fetch_entry,
    fetch_repomd,
    load_packages,
    repo_keyrings,
)
from bootstrap.adapters.yum.repomd import EMPTY_COMPS, Comps, decompress, expand_groups, parse_comps
from bootstrap.adapters.yum.version import rpm_version_scheme
from bootstrap.errors import ChecksumError, RepositoryNotFound, UnpackError, UsageError
from bootstrap.root import Root
from bootstrap.types import (
    Fetcher,
    FileEntry,
    Log,
    Package,
    Profile,
    RepoIndex,
    Repository,
    RepoTrust,
    Target,
    VersionScheme,
)

# Names rpm itself resolves without /etc/passwd (the first packages land before `setup`).
_BUILTIN_IDS = {"root": 0}


class YumAdapter(Adapter):
    """RPM distributions through yum-style repositories."""

    family = "yum"
    facts = FACTS

    def __init__(self, profile: Profile | None = None, log: Log | None = None) -> None:
        super().__init__(profile, log)
        # What load() read, for the index-phase hooks (comps, filelists) of the same build.
        self._repos: dict[str, RepoState] = {}
        self._notices: set[str] = set()
        # Which package brought each path so far, for rpm's rules on a path already taken
        # (files.py); the unpack phase's own.
        self._claims = FileClaims()

    # -- index ------------------------------------------------------------------------------

    def version_scheme(self, arch: str) -> VersionScheme:
        multilib = bool(self.profile and self.profile.options.get("multilib", "0") == "1")
        return rpm_version_scheme(arch, multilib)

    def load(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        try:
            state = fetch_repomd(repo, fetcher, log, FACTS.basearch.get(arch, arch))
        except RepositoryNotFound as exc:
            # Trees made for yum 2.0 or anaconda (CentOS 2.1-3.x, Fedora Core 1-2) have no
            # repodata/: probe their headers/, hdlist and RPMS/ listing (legacy.py) first.
            legacy = load_legacy(repo, fetcher, log)
            if legacy is None:
                if " no repodata/repomd.xml at " not in exc.message:
                    raise
                raise RepositoryNotFound(exc.message, hint=f"{exc.hint}; the tree has no {HEADER_INFO}, "
                                         "<Vendor>/base/hdlist or RPMS/ listing either") from None
            return self._legacy_index(repo, legacy, arch, fetcher, log)
        self._repos[repo.id] = state
        packages = load_packages(state, fetcher, log)
        _check_arches(repo, state.url, packages, self.version_scheme(arch), arch)
        log(f"{repo.id}: {state.url}: {len(packages)} packages (repomd revision {state.repomd.revision or '?'})")
        # yum checks each package's own signature when the repository says gpgcheck=1.
        # Packages fail over to the repository's other mirrors, as its metadata does.
        return RepoIndex(packages, RepoTrust(repo.id, state.url, state.gpgcheck, state.keyrings,
                                             state.signers, mirrors=state.mirrors), state.stamp)

    def _legacy_index(self, repo: Repository, legacy: Legacy, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        """The RepoIndex of a tree read from headers/ or an hdlist: its packages are checked
        by their signatures (gpgcheck as for any tree) and the header they were resolved from."""
        _check_arches(repo, legacy.url, legacy.packages, self.version_scheme(arch), arch)
        log(f"{repo.id}: {legacy.url}: {len(legacy.packages)} packages from {legacy.what} (no repodata/)")
        self._notice(NOTICE.format(what=legacy.what))
        keyrings = repo_keyrings(repo, fetcher) if repo.verify else ()
        gpgcheck = repo.verify and repo.option("gpgcheck", "1") != "0"
        mirrors = tuple(u for u in (repo.url, *repo.alternates) if u != legacy.url)
        return RepoIndex(legacy.packages, RepoTrust(repo.id, legacy.url, gpgcheck, keyrings, (), mirrors=mirrors),
                         legacy.stamp)

    def extra_requests(self, sources: Sequence[str], defines: Sequence[str], log: Log) -> list[str]:
        """--buildrequires: every spec's BuildRequires, macros expanded for the target release."""
        if not sources:
            return []
        from bootstrap.adapters.yum.spec import spec_requests

        if self.profile is None:
            raise UsageError("--buildrequires needs a profile to expand the spec's macros for")
        return spec_requests(sources, self.profile, defines)

    def expand_requests(self, names: Sequence[str], universe: Sequence[Package],
                        fetcher: Fetcher) -> list[str]:
        """`@group` and `@^environment` as comps' mandatory + default packages (comps fetched
        only then)."""
        if not any(n.startswith("@") for n in names):
            return list(names)
        return expand_groups(names, self._comps(fetcher))

    def _comps(self, fetcher: Fetcher) -> Comps:
        comps = EMPTY_COMPS
        for state in self._repos.values():
            entry = state.repomd.best("group_gz", "group", "group_xz", "group_zst")
            if entry is None:
                continue
            data = fetch_entry(state, entry, fetcher)
            comps = comps.merged(parse_comps(decompress(data, entry.href, entry.limit)))
        return comps

    def complete_universe(self, universe: Sequence[Package], names: Sequence[str],
                          fetcher: Fetcher, log: Log) -> list[Package]:
        """Owners' file lists from filelists, only for file dependencies reachable from `names`
        that primary's short lists and the provides leave unmet."""
        return complete_files(universe, names, self._repos, fetcher, log)

    # -- payloads ---------------------------------------------------------------------------

    def check_payload(self, pkg: Package, path: Path, trust: RepoTrust) -> None:
        """The header's name/EVR/arch must be the index's; the signature must verify against
        the repository's keys when its trust says so."""
        from bootstrap.adapters.yum.signature import check_rpm

        rpm = check_rpm(path, trust.keyrings, verify=trust.verify, log=self._notice)
        if (rpm.name, rpm.evr, rpm.arch) != (pkg.name, pkg.version, pkg.arch) and not _epoch_only(rpm, pkg):
            raise ChecksumError(f"{pkg.filename} holds {rpm.nevra}, but the index says "
                                f"{pkg.name}-{pkg.version}.{pkg.arch}",
                                hint="the mirror's packages and metadata disagree; try another mirror")
        expected = pkg.field("header-sha256")
        if expected and header_identity(rpm.header) != expected:
            raise ChecksumError(f"{pkg.filename}: its header is not the one the repository's headers/ gives "
                                f"for {rpm.nevra}",
                                hint="the mirror's packages and headers/ disagree; try another mirror")

    def _notice(self, line: str) -> None:
        """Expired-key notices once per key, not once per package."""
        key = line.split(" expired ")[0]
        if key not in self._notices:
            self._notices.add(key)
            self.log(line)

    def prepare_root(self, root: Root) -> None:
        # Not var/lib/rpm: Fedora 36+'s rpm package makes it a symlink into /usr/lib/sysimage.
        for sub in ("var/tmp", "tmp"):
            root.mkdir(sub)
        root.chmod("tmp", 0o1777)

    def unpack(self, pkg: Package, path: Path, root: Root) -> Installed:
        from bootstrap.unpack import IdMap, Unpacker

        with open(path, "rb") as fh:
            rpm = read_rpm(fh)
        ids = IdMap.from_root(root)
        place = self._claims.plan(rpm, root, self.log)
        manifest = extract_rpm(Unpacker(root), path, pkg.name, ids=ids, declare=declared_by(rpm, pkg.name),
                               skip=place.skip, divert=place.divert)
        files = {header_path(f.path): f for f in rpm.files()}
        users = {**_BUILTIN_IDS, **ids.users}
        groups = {**_BUILTIN_IDS, **ids.groups}
        sha256 = rpm.header.ints(FILEDIGESTALGO) == [8]  # without the tag: MD5, not checked here
        fixed = []
        for entry in manifest:
            info = files.get(place.source(entry.path))  # PATH.rpmnew is the header's PATH
            if sha256 and info is not None:
                _check_digest(pkg.name, entry, info)
            fixed.append(_apply_header(root, pkg.name, entry, info, users, groups))
        control = {"rpm": str(path).encode(), "nevra": rpm.nevra.encode()}
        return Installed(pkg, [e for e in fixed if e is not None], control)

    # -- database and scripts ---------------------------------------------------------------

    def register(self, root: Root, installed: Sequence[Installed], target: Target) -> None:
        """Nothing is written here: the database is the target rpm's job in configure."""
        if rpmdb.target_rpm(root) is None:
            self.log("rpm is not in the package set: no RPM database is written")

    def configure(self, root: Root, installed: Sequence[Installed], runner: Runner,
                  target: Target) -> None:
        rpm = rpmdb.target_rpm(root)
        if rpm is None:
            rpmdb.run_scriptlets(root, installed, runner, self.log)
        else:
            rpmdb.install_with_target_rpm(root, installed, runner, rpm, self.log)

    def cleanup(self, root: Root) -> None:
        for sub in ("var/cache/yum", "var/cache/dnf"):
            root.clear_dir(sub)
        if root.is_dir(rpmdb.STAGE) and not root.is_symlink(rpmdb.STAGE):
            root.remove_tree(rpmdb.STAGE)
        rpmdb.clean_db_leftovers(root)
        for log in ("var/log/yum.log", "var/log/dnf.log", "var/log/dnf.rpm.log"):
            if root.is_file(log) and not root.is_symlink(log):
                root.unlink(log)


def _check_arches(repo: Repository, url: str, packages: Sequence[Package], scheme: VersionScheme, arch: str) -> None:
    """A tree whose packages are all of architectures `arch` cannot install (an i386 tree where
    the build is x86_64: a mirror laid out otherwise, or a wrong --arch) has nothing for this
    build: RepositoryNotFound naming what it has (an optional repository is then skipped, as
    one the mirror lacks), before anything is resolved against it. Reads each package's arch."""
    arches = {p.arch for p in packages}
    if arches and all(scheme.arch_rank(a) is None for a in arches):
        raise RepositoryNotFound(f"repository {repo.id}: {url} has no packages for {arch} "
                                   f"(it has: {', '.join(sorted(arches)[:8])})",
                                   hint="choose the tree's architecture with --arch, or a mirror laid out as "
                                        "the profile's URLs say")


def _epoch_only(rpm: RpmFile, pkg: Package) -> bool:
    """Old createrepo wrote epoch 0 where the header has none (and the reverse): same package."""
    return (rpm.name, rpm.arch) == (pkg.name, pkg.arch) and rpm.evr.split(":")[-1] == pkg.version.split(":")[-1]


def _check_digest(package: str, entry: FileEntry, info: RpmFileInfo) -> None:
    """A regular file's content must be what its header's SHA-256 says (rpm checks every file
    it writes the same way); UnpackError naming the package and file otherwise."""
    if entry.type == "file" and info.digest and entry.digest != info.digest.lower():
        raise UnpackError(f"package {package}: {info.path}: its content does not match the digest "
                          f"its header declares", hint="the package is corrupt or malicious; rpm "
                          "refuses it too (digest mismatch)")


def _apply_header(root: Root, package: str, entry: FileEntry, info: RpmFileInfo | None,
                  users: dict[str, int], groups: dict[str, int]) -> FileEntry | None:
    """Owners, mode and capabilities of one unpacked entry of `package` as the header
    declares them (the unpacker already wrote its type and mode from the header: payload.
    declared_by); UnpackError naming the package and file for capabilities it garbles.
    Device nodes are in the manifest only: nothing is changed on disk for them."""
    if info is None:
        return entry
    uid = users.get(info.user, entry.uid)
    gid = groups.get(info.group, entry.gid)
    mode = info.mode & 0o7777 if entry.type != "symlink" else entry.mode
    xattrs = entry.xattrs
    try:
        caps = capability_xattr(info.caps) if info.caps else b""
    except CapsError as exc:
        raise UnpackError(f"package {package}: {info.path}: file capabilities {info.caps!r}: {exc.message}",
                          hint=exc.hint) from None
    if caps:
        xattrs = tuple(x for x in xattrs if x[0] != XATTR) + ((XATTR, caps),)
    if os.geteuid() == 0 and entry.type not in ("char", "block"):
        root.chown(entry.path, uid, gid)
        if entry.type != "symlink":
            root.chmod(entry.path, mode)  # after chown: chown clears setuid bits
        if caps:
            root.setxattr(entry.path, XATTR, caps)
    return replace(entry, uid=uid, gid=gid, mode=mode, xattrs=xattrs, uname=info.user, gname=info.group)
