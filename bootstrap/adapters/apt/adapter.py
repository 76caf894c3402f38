"""The apt family (Debian, Ubuntu): the Adapter that ties the index, the unpacker and dpkg's
database together. Formats live in index/packages/release (InRelease, Packages), payload (.deb)
and dpkg_db/status/scripts (dpkg's database, maintainer scripts); this module only decides what
a Debian user expects of each phase. The tree is touched only through the `Root` handle the
pipeline passes in. A path an earlier package of the build unpacked is dpkg's to settle
(overwrite.py: shared directories, `Replaces` either way, else "trying to overwrite").
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.adapters import Adapter, Installed, Runner
from bootstrap.adapters.apt import dpkg_db, index
from bootstrap.adapters.apt.facts import FACTS
from bootstrap.adapters.apt.overwrite import Holder, Holders
from bootstrap.adapters.mirrors import load_from_mirrors
from bootstrap.root import Root
from bootstrap.types import Fetcher, Log, Package, Profile, RepoIndex, Repository, RepoTrust, Target, VersionScheme

if TYPE_CHECKING:
    from concurrent.futures import Future

    from bootstrap.adapters.apt.payload import LoadedDeb

# debootstrap's variants, by the Priority values they take from the index.
_PRIORITIES = {
    "minbase": ("required",),
    "buildd": ("required",),
    "default": ("required", "important"),
}


class AptAdapter(Adapter):
    """Debian and Ubuntu: InRelease/Packages, .deb payloads, dpkg's database."""

    family = "apt"
    facts = FACTS

    def __init__(self, profile: Profile | None = None, log: Log | None = None) -> None:
        super().__init__(profile, log)
        self._preloader: Preloader | None = None
        # Which packages of this build have each path so far, for dpkg's overwrite rule
        # (overwrite.py); the unpack phase's own.
        self._holders = Holders()

    def version_scheme(self, arch: str) -> VersionScheme:
        return index.debian_version_scheme(arch)

    def load(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        """The index of the first of the repository's mirrors (`url`, then `alternates`) whose
        Release and Packages can be had and verify (adapters/mirrors.py); its packages fail over to the
        mirrors after that one."""
        found, _, others = load_from_mirrors(repo, lambda one: self._load_mirror(one, arch, fetcher, log), log)
        return replace(found, trust=replace(found.trust, mirrors=others))

    def _load_mirror(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        found = index.load_apt_index(repo, arch, fetcher, log)
        # A .deb carries no signature apt checks: the signed index's digests are the trust.
        return RepoIndex(found.packages, RepoTrust(repo.id, repo.url, repo.verify, repo.keyrings, found.signers),
                         found.stamp)

    def base_packages(self, universe: Sequence[Package], variant: str) -> list[str]:
        """debootstrap's choice: every package of the variant's priorities (the profile adds apt,
        build-essential...). Only packages of the target's architecture or `all` count."""
        wanted = _PRIORITIES.get(variant, ())
        arch = self.profile.arch if self.profile else None
        names = {p.name for p in universe
                 if p.priority in wanted and (arch is None or p.arch in (arch, "all"))}
        return sorted(names)

    def expand_requests(self, names: Sequence[str], universe: Sequence[Package],
                        fetcher: Fetcher) -> list[str]:
        """On a merged-/usr release that has `usr-is-merged`, ask for it as debootstrap and
        mmdebstrap do: the root is already merged, and otherwise `init-system-helpers`'s
        `usrmerge | usr-is-merged` would pull usrmerge and with it perl."""
        out = list(names)
        if self._merged_usr() and "usrmerge" not in out and "usr-is-merged" not in out \
                and any(p.name == "usr-is-merged" for p in universe):
            out.append("usr-is-merged")
        return out

    def _merged_usr(self) -> bool:
        return (self.profile.options.get("merged_usr", "yes") if self.profile else "yes") == "yes"

    def prepare_root(self, root: Root) -> None:
        arch = self.profile.arch if self.profile else None
        dpkg_db.prepare_root(root, merged_usr=self._merged_usr(), arch=arch)

    def preload(self, packages: Sequence[Package]) -> Callable[[int, Path], None] | None:
        """Decompress the packages' data in threads while they download and while earlier
        ones are written. Returns `ready(i, path)`, to call when packages[i] is at `path`;
        `unpack` must then be called for the packages in this order."""
        self._preloader = Preloader(packages)
        return self._preloader.ready

    def release(self) -> None:
        """The unpack phase is over (done or failed): stop the preloader."""
        if self._preloader is not None:
            self._preloader.close()
            self._preloader = None

    def unpack(self, pkg: Package, path: Path, root: Root) -> Installed:
        from bootstrap.adapters.apt.payload import extract_deb, extract_loaded_deb
        from bootstrap.unpack import Unpacker

        unpacker = Unpacker(root)  # holds only the root: nothing to keep between packages
        skip = self._holders.skipper(Holder.of(pkg), root)
        loaded = self._preloader.take(path) if self._preloader is not None else None
        if loaded is not None:
            control, manifest = extract_loaded_deb(unpacker, loaded, pkg.name, skip)
        else:
            control, manifest = extract_deb(unpacker, path, pkg.name, skip)
        if "md5sums" not in control:
            # dpkg hashes a package that ships none as it unpacks it: before a later package
            # (with Replaces) may write one of its paths again.
            control["md5sums"] = dpkg_db.md5sums(root, manifest).encode()
        return Installed(pkg, manifest, control)

    def register(self, root: Root, installed: Sequence[Installed], target: Target) -> None:
        dpkg_db.register(root, installed, target.arch)
        if self.profile is not None:
            write_sources(root, self.profile)

    def configure(self, root: Root, installed: Sequence[Installed], runner: Runner,
                  target: Target) -> None:
        dpkg_db.configure(root, installed, runner)

    def cleanup(self, root: Root) -> None:
        dpkg_db.cleanup(root)


class Preloader:
    """Loads .debs ahead of the unpacker (bootstrap.adapters.apt.payload.load_deb) on a thread pool, in
    order, as soon as each is downloaded (`ready`), holding at most BUDGET bytes of unpacked
    data not yet taken; a package bigger than that is left to the streaming extract_deb.
    Errors surface when the package is taken. Not thread-safe: one thread calls ready/take."""

    # 16 MiB: two cores keep the unpacker fed with that much ahead (a minbase unpack took
    # 2.7 s, 2.6 s with 32 MiB and 256 MiB alike), and the build's largest process is ~80 MiB
    # smaller than with 256 (measured on bookworm minbase, host mirror, 2 cores).
    BUDGET = 16 << 20

    def __init__(self, packages: Sequence[Package]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._queue = list(packages)
        self._paths: dict[int, Path] = {}
        self._next = 0
        self._pending: dict[Path, tuple[Future[LoadedDeb], int]] = {}  # path → (load, bytes)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 2)))

    def ready(self, index: int, path: Path) -> None:
        """packages[index] is downloaded and verified at `path`."""
        self._paths[index] = path
        self._fill()

    def _fill(self) -> None:
        from bootstrap.adapters.apt.payload import load_deb

        held = sum(size for _, size in self._pending.values())
        while self._next < len(self._queue) and self._next in self._paths:
            pkg, path = self._queue[self._next], self._paths[self._next]
            size = max(pkg.installed_size, 1) * 1024
            if size > self.BUDGET:  # streamed when its turn comes
                self._next += 1
                continue
            if self._pending and held + size > self.BUDGET:
                return
            self._pending[path] = (self._pool.submit(load_deb, path, pkg.name), size)
            held += size
            self._next += 1
        if self._next == len(self._queue):
            self._pool.shutdown(wait=False)  # everything is submitted: let the threads end

    def take(self, path: Path) -> LoadedDeb | None:
        """The loaded package for `path` (re-raising its error), or None to stream it."""
        entry = self._pending.pop(path, None)
        if entry is None:
            return None
        try:
            return entry[0].result()
        finally:
            self._fill()

    def close(self) -> None:
        """Stop: loads not started are cancelled, none is submitted any more, and what was
        loaded is dropped. Why: after a failure (or Ctrl-C) the process would otherwise wait,
        at exit, for up to BUDGET bytes of decompression nobody will use."""
        self._next = len(self._queue)
        for future, _ in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def write_sources(root: Root, profile: Profile) -> None:
    """The image's own apt sources: the repositories it was built from, so `apt-get update`
    works inside: deb822 `.sources` where the profile says `sources_format = deb822` (what
    Debian 12+ and Ubuntu 24.04+ images carry), else the one-line sources.list every apt reads."""
    repos = [r for r in profile.repositories if r.family == "apt"]
    if not root.is_dir("etc/apt/sources.list.d"):
        root.mkdir("etc/apt/sources.list.d")
    keyring = _image_keyring(root, profile.vendor)
    if profile.options.get("sources_format") == "deb822":
        stanzas = []
        for repo in repos:
            lines = ["Types: deb", f"URIs: {repo.url}", f"Suites: {repo.suite}",
                     f"Components: {' '.join(repo.components)}"]
            if keyring:
                lines.append(f"Signed-By: {keyring}")
            stanzas.append("\n".join(lines) + "\n")
        root.write_text(f"etc/apt/sources.list.d/{profile.vendor}.sources", "\n".join(stanzas))
        return
    lines = [f"deb {repo.url} {repo.suite} {' '.join(repo.components)}" for repo in repos]
    root.write_text("etc/apt/sources.list", "\n".join(lines) + "\n")


def _image_keyring(root: Root, vendor: str) -> str:
    """The archive keyring the image's own keyring package installs, if it does."""
    base = vendor.split("-")[0]
    for name in (f"usr/share/keyrings/{base}-archive-keyring.gpg",):
        if root.exists(name):
            return "/" + name
    return ""
