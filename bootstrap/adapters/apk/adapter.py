"""The apk family (Alpine): APKINDEX repositories, .apk payloads, apk-tools' database.

Formats live beside this module: index (APKINDEX), package (.apk streams), signature (the
`.SIGN.RSA*` entries; bootstrap.trust.rsa checks them), version (ordering), db (/lib/apk/db)
and seed (the minirootfs); this module decides what an Alpine user expects of each phase of
the Adapter contract (bootstrap.adapters).

- load: the APKINDEX.tar.gz verified on every read and parsed once per version of it, into
  packages whose dependencies and raw fields are read on first use (loader.py, fastindex.py;
  the parsed-index cache, bootstrap.indexcache, keeps the result by the file's digest).
- seed: for the variants that start from the release's minirootfs (the profile's
  `minirootfs_variants`, by default `default`), fetch and check it, unpack it into the root,
  and return what its /lib/apk/db/installed lists as already installed.
- check_payload: the control stream's SHA-1 must be the index's `C:`; the package signature
  must verify, or, missing or made by no key we hold, be vouched for by that `C:` of a verified
  index (a notice says so). load holds a verified index to what this cache saw (rollback.py).
- unpack: the data stream through the unpacker; a file another package (or the seed) owns is
  replaced, kept or refused as apk-tools decides it (owners.py: same name or origin,
  `replaces`, else "trying to overwrite X owned by Y"); in a protected directory (`/etc`, and
  what the root's etc/apk/protected_paths.d says: protected.py) a file already there that its
  owner did not record as it is now, or that no package owns (the minirootfs's
  /etc/os-release), is kept and the package's is written as PATH.apk-new (placement.py).
- register: /lib/apk/db, and /etc/apk: arch, world (the names of `Target.requests`, merged
  into the world already there), repositories, and the keys that verified an index or a
  package (`Target.trust[*].signers`, and the `signers` each unpacked package's control data
  records). register and configure use nothing remembered from earlier phases: a build from
  a lock writes the same. Only unpack keeps something, for its own phase: which package owns
  each file so far (the seed's database, then each unpacked package).

Scripts: in mode root every new package's `.pre-install` then `.post-install` runs in the
chroot, in install order, after all payloads are unpacked (apk runs pre-install before each
unpack; the roots built here start empty or from a consistent minirootfs, so the order of
unpacking does not change what the scripts see), then each trigger whose watched directories
received files (busybox's trigger makes the applet links).
"""
from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import os
import tarfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bootstrap.adapters import Adapter, Installed, Runner
from bootstrap.adapters.apk import db as apk_db
from bootstrap.adapters.apk import fastindex
from bootstrap.adapters.apk import seed as apk_seed
from bootstrap.adapters.apk.facts import FACTS
from bootstrap.adapters.apk.loader import load_index
from bootstrap.adapters.apk.owners import PKGINFO_KEYS, Owner, Owners
from bootstrap.adapters.apk.package import read_apk
from bootstrap.adapters.apk.placement import Placement, database_entries, kept_from_bytes, kept_to_bytes
from bootstrap.adapters.apk.rollback import check_index_freshness
from bootstrap.adapters.apk.version import apk_version_scheme
from bootstrap.adapters.mirrors import arch_words, load_from_mirrors, mirror_hint, sibling_arches
from bootstrap.errors import ChecksumError, RepositoryNotFound, UnknownSigner
from bootstrap.indexcache import IndexCache
from bootstrap.root import Root
from bootstrap.trust import rsa
from bootstrap.types import (
    Checksum,
    Fetcher,
    FetchItem,
    IndexStamp,
    Log,
    Package,
    Profile,
    RepoIndex,
    Repository,
    RepoTrust,
    Target,
    VersionScheme,
    iso_utc,
)

_SCRIPT_DIR = "tmp"
_KEPT = "kept"  # Installed.control key: placement.Kept records, for the database
_INITDB_DIRS = (("tmp", 0o1777), ("dev", 0o755), ("etc/apk/keys", 0o755), ("lib/apk/db", 0o755),
                ("var/cache/apk", 0o755), ("var/cache/misc", 0o755))


class ApkAdapter(Adapter):
    """Alpine Linux: APKINDEX.tar.gz, .apk files, /lib/apk/db."""

    family = "apk"
    facts = FACTS

    def __init__(self, profile: Profile | None = None, log: Log | None = None) -> None:
        super().__init__(profile, log)
        # Who owns each file so far in this build (the seed's, then each unpacked package's),
        # for apk's overwrite rule (owners.py).
        self._owners = Owners()

    def version_scheme(self, arch: str) -> VersionScheme:
        return apk_version_scheme(arch)

    def load(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        """The index of the first of the repository's mirrors (`url`, then `alternates`) whose
        APKINDEX can be had and verify (adapters/mirrors.py); its packages fail over to the
        mirrors after that one."""
        found, _, others = load_from_mirrors(repo, lambda one: self._load_mirror(one, arch, fetcher, log), log)
        return replace(found, trust=replace(found.trust, mirrors=others))

    def _load_mirror(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        url = f"{repo.url.rstrip('/')}/{arch}/APKINDEX.tar.gz"
        data = fetcher.try_get_bytes(url)
        if data is None:
            raise _no_index(repo, url, arch, fetcher, self.profile)
        keyrings = tuple(k for k in repo.keyrings if "://" not in k)
        keys = _keys(keyrings) if repo.verify else None
        # Verified on every read, parsed once per version of the index (loader.py); a verified
        # one is held to what this cache saw (rollback.py) before it is used or kept.
        index = load_index(data, keys, f"APKINDEX of {repo.url}", log, where=f"APKINDEX of {repo.id or repo.url}",
                           origin=url, cache=IndexCache.of(fetcher, log),
                           vet=lambda built: check_index_freshness(url, built, fetcher))
        packages = fastindex.packages(index.entry.take_meta(), index.entry.text, repo_url=repo.url, arch=arch,
                                      repo_id=repo.id)
        log(f"{repo.id}: {index.description or repo.url}: {len(packages)} packages")
        signers = (index.signer,) if keys and index.signer else ()
        stamp = IndexStamp(url, hashlib.sha256(data).hexdigest(), iso_utc(index.built) if index.built else "")
        return RepoIndex(packages, RepoTrust(repo.id, repo.url, repo.verify, keyrings, signers), stamp)

    def seeds(self, variant: str) -> bool:
        """The variants that start from the minirootfs (the profile's `minirootfs_variants`,
        by default `default`)."""
        if self.profile is None:
            return False
        return variant in self.profile.options.get("minirootfs_variants", "default").split()

    def seed_source(self, fetcher: Fetcher, log: Log, variant: str) -> FetchItem | None:
        if self.profile is None or not self.seeds(variant):
            return None
        verify = all(r.verify for r in self.profile.repositories)
        return apk_seed.find_minirootfs(self.profile, self.profile.arch, fetcher, log, verify)

    def seed(self, fetcher: Fetcher, root: Root, log: Log, variant: str,
             pinned: FetchItem | None = None) -> list[Installed]:
        if self.profile is None or not self.seeds(variant):
            return []
        found = apk_seed.seed(self.profile, self.profile.arch, fetcher, root, log, pinned)
        self._owners.record_installed(root.read_text_or(apk_db.INSTALLED))
        return found

    def payload_key(self, pkg: Package) -> Checksum | None:
        """The index's C: (`Q1` + base64 of the control stream's SHA-1), as hex: the name of
        the package's copy in the download cache, which check_payload verifies on every use."""
        value = pkg.field("C")
        if not value.startswith("Q1"):
            return None
        try:
            return Checksum("apk-q1", base64.b64decode(value[2:], validate=True).hex())
        except ValueError:
            return None

    def check_payload(self, pkg: Package, path: Path, trust: RepoTrust) -> None:
        """The control stream's SHA-1 must be the index's C:, the package signature must
        verify (or, signed by a key we do not hold, be vouched for by the verified index)."""
        apk = read_apk(path.read_bytes(), pkg.filename)
        expected = pkg.field("C")
        if expected and apk.checksum != expected:
            raise ChecksumError(f"{pkg.filename}: control checksum {apk.checksum} is not the index's {expected}",
                                hint="the mirror's package and index disagree; remove the cached file and retry")
        if not trust.verify:
            return
        keys = _keys(trust.keyrings)
        try:
            rsa.verify(apk.control_stream, apk.signatures, keys, f"package {pkg.filename}")
        except UnknownSigner as exc:
            # Unsigned (its signature stream stripped, say), or by a key we do not hold: the
            # verified index's C: (checked above) already vouches for this control stream, and
            # its datahash for the files, as apk-tools accepts it. Said, never silent. A bad
            # signature by a held key is raised.
            if not expected:
                raise
            self.log(f"notice: {exc.message}; accepted: the verified index vouches for it (C: {expected})")

    def prepare_root(self, root: Root) -> None:
        """What `apk add --initdb` makes in an empty root (apk-tools' apk_db_create), so an
        index-only root without a baselayout still has a sticky, world-writable /tmp. Device
        nodes are left out: Alpine's minirootfs carries none, container runtimes mount /dev."""
        for sub, mode in _INITDB_DIRS:
            if not root.lexists(sub):
                root.mkdir(sub, mode)

    def unpack(self, pkg: Package, path: Path, root: Root) -> Installed:
        from bootstrap.unpack import IdMap, Unpacker

        apk = read_apk(path.read_bytes(), pkg.filename)
        owner = Owner.from_pairs(apk.pkginfo, PKGINFO_KEYS)
        # Owners map through the target's own passwd/group as it is now (baselayout's arrive first).
        # A path where something stands is apk's to settle: another package's file replaced,
        # left or refused; a protected file kept, the package's beside it as .apk-new.
        place = Placement(self._owners, owner, root)
        written = Unpacker(root).extract(apk.data_stream, pkg.name, ids=IdMap.from_root(root),
                                         skip=place.skip, divert=place.divert)
        manifest, kept = place.settle(written)
        control = {".PKGINFO": "\n".join(f"{k} = {v}" for k, v in apk.pkginfo).encode(),
                   "checksum": apk.checksum.encode(), "size": str(path.stat().st_size).encode(),
                   # The keys that signed it: register writes those it holds into the image.
                   "signers": " ".join(s.key_name for s in apk.signatures).encode()}
        control.update(apk.scripts)
        if kept:  # the package's files whose paths hold another one: the database lists them
            control[_KEPT] = kept_to_bytes(kept)
        return Installed(pkg, manifest, control)

    def register(self, root: Root, installed: Sequence[Installed], target: Target) -> None:
        new = [i for i in installed if apk_seed.SEEDED not in i.control]
        stanzas, scripts, triggers = [], [], []
        for item in new:
            pkginfo = _pkginfo(item)
            checksum = item.control["checksum"].decode()
            size = int(item.control.get("size", b"0") or item.package.size)
            entries, digests = database_entries(item.manifest, kept_from_bytes(item.control.get(_KEPT, b"")))
            stanza = apk_db.Stanza(apk_db.header_lines(checksum, pkginfo, size),
                                   apk_db.file_sections(root, entries, digests))
            stanzas.append(stanza)
            stem = f"{item.package.name}-{item.package.version}.{checksum}"
            mtime = int(dict(pkginfo).get("builddate", "0") or 0)
            scripts += [(f"{stem}{name}", body, mtime) for name, body in item.control.items()
                        if name.startswith(".") and name != ".PKGINFO"]
            globs = " ".join(v for k, v in pkginfo if k == "triggers")
            if globs:
                triggers.append((checksum, globs))
        apk_db.write_installed(root, stanzas)
        apk_db.write_scripts(root, scripts)
        apk_db.write_triggers(root, triggers)
        self._write_config(root, installed, target)

    def _write_config(self, root: Root, installed: Sequence[Installed], target: Target) -> None:
        """/etc/apk as `apk add` leaves it, from `target` and `installed` alone: arch, world
        (what is there plus `target.requests`; without requests, the installed packages nothing
        depends on), repositories, the keys that verified something, and the database lock."""
        root.mkdir("etc/apk/keys")
        root.write_text("etc/apk/arch", target.arch + "\n")
        world = set(root.read_text_or("etc/apk/world").split())
        world |= set(target.requests) or _roots(installed)
        root.write_text("etc/apk/world", "".join(f"{name}\n" for name in sorted(world)))
        if self.profile is not None and self.profile.repositories:
            lines = [r.url.rstrip("/") for r in self.profile.repositories if r.family == "apk"]
            root.write_text("etc/apk/repositories", "".join(f"{line}\n" for line in lines))
        # Only keys that verified something, and only where missing: an Alpine minirootfs (or
        # alpine-keys) already carries Alpine's, a private repository's key must be added.
        for name, pem in _used_keys(installed, target).items():
            if not root.exists(f"etc/apk/keys/{name}"):
                root.write_bytes(f"etc/apk/keys/{name}", pem)
        if not root.exists("lib/apk/db/lock"):
            root.touch("lib/apk/db/lock", 0o600)

    def configure(self, root: Root, installed: Sequence[Installed], runner: Runner,
                  target: Target) -> None:
        new = [i for i in installed if apk_seed.SEEDED not in i.control]
        for item in new:
            for script in (".pre-install", ".post-install"):
                body = item.control.get(script)
                if body:
                    _run_script(root, runner, f"{item.package.name}{script}", body, [item.package.version])
        touched = {os.path.dirname("/" + e.path.strip("/")) for i in new for e in i.manifest}
        for name, body, globs in _db_triggers(root):
            matched = [d for d in sorted(touched) if any(fnmatch.fnmatch(d, g) for g in globs)]
            if matched:
                _run_script(root, runner, name, body, matched)

    def cleanup(self, root: Root) -> None:
        root.clear_dir("var/cache/apk")


def _no_index(repo: Repository, url: str, arch: str, fetcher: Fetcher, profile: Profile | None) -> RepositoryNotFound:
    """No APKINDEX for `arch` at `url`: when the branch's listing shows other architectures,
    `Alpine Linux v3.16 has no riscv64 (it has: aarch64, x86_64)`, else the URL; the hint
    says how to give a mirror and the layout it must have."""
    hint = mirror_hint(repo, url)
    found = sibling_arches(fetcher, url, arch, arch_words(FACTS))
    if found is not None and found[1]:
        options = profile.options if profile is not None else {}
        release = options.get("branch") or (profile.release if profile is not None else "")
        what = " ".join(w for w in (options.get("vendor_name", ""), release) if w) or found[0]
        return RepositoryNotFound(f"{what} has no {arch} (it has: {', '.join(found[1])})",
                                  hint="choose one of them with --arch")
    return RepositoryNotFound(f"no APKINDEX.tar.gz at {url}", hint=f"check the release and --arch, or {hint}")


@functools.cache
def _keys(keyrings: tuple[str, ...]) -> dict[str, bytes]:
    """The trusted keys of a repository by file name. Cached per set of key files (host
    files a build does not change), so checking every package does not read them again."""
    return rsa.load_keys(list(keyrings))


def _used_keys(installed: Sequence[Installed], target: Target) -> dict[str, bytes]:
    """The keys that signed an index or an installed package, among those each repository
    trusts: the image needs them for its own `apk` (a private repository's key above all)."""
    used: dict[str, bytes] = {}
    for trust in target.trust.values():
        if not trust.verify:
            continue
        keys = _keys(trust.keyrings)
        names = set(trust.signers)
        for item in installed:
            if item.package.repo == trust.repo:
                names.update(item.control.get("signers", b"").decode().split())
        used.update({name: keys[name] for name in sorted(names) if name in keys})
    return used


def _pkginfo(item: Installed) -> list[tuple[str, str]]:
    """The (key, value) lines of the .PKGINFO that unpack recorded, in order, unstripped."""
    text = item.control.get(".PKGINFO", b"").decode("utf-8", "replace")
    pairs = (line.partition(" = ") for line in text.splitlines() if " = " in line)
    return [(key, value) for key, _, value in pairs]


def _roots(installed: Sequence[Installed]) -> set[str]:
    """Without the user's request list: the packages nothing else installed depends on."""
    needed = {rel.name for i in installed for dep in i.package.depends for rel in dep}
    provided = {i.package.name: {i.package.name} | {p.name for p in i.package.provides} for i in installed}
    return {name for name, names in provided.items() if not names & needed}


def _run_script(root: Root, runner: Runner, name: str, body: bytes, args: list[str]) -> None:
    """Run one script inside the root as apk does: the file executed with its arguments."""
    rel = f"{_SCRIPT_DIR}/.apk-script.{name}"
    root.write_bytes(rel, body, 0o755)
    try:
        runner.run([f"/{rel}", *args])
    finally:
        root.unlink(rel)


def _db_triggers(root: Root) -> list[tuple[str, bytes, list[str]]]:
    """(name, trigger script, watched globs) of every package in /lib/apk/db/triggers."""
    lines = root.read_text_or("lib/apk/db/triggers").splitlines()
    wanted = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    found = []
    if wanted and root.exists("lib/apk/db/scripts.tar"):
        with root.open_read("lib/apk/db/scripts.tar") as handle, \
                tarfile.open(fileobj=handle, mode="r:") as tar:
            for info in tar:
                stem, _, kind = info.name.rpartition(".")
                checksum = stem.rsplit(".", 1)[-1] if "." in stem else ""
                if kind == "trigger" and checksum in wanted:
                    body = tar.extractfile(info)
                    found.append((stem, body.read() if body else b"", wanted[checksum]))
    return found
