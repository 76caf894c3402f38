"""Starting an Alpine root from the release's minirootfs tarball.

Where it is: `<mirror>/<branch>/releases/<arch>/alpine-minirootfs-<version>-<arch>.tar.gz`
(branch `v3.16` or `edge`); the profile gives that directory as its `releases_url` option.
Which version: the profile's `point` option pins one (`alpine3.16.9`); otherwise the newest that
the directory's `latest-releases.yaml` names for the `alpine-minirootfs` flavor.
How it is checked: against the published `<file>.sha256` (or the yaml's sha256 when the mirror
has no .sha256 file); a tarball with neither is refused unless verification is off. A `.asc`
beside it is checked when the profile names an OpenPGP key (`minirootfs_gpgkey`), else noted.
What it returns: one `Installed` per package the tarball's /lib/apk/db/installed lists, so the
resolver treats them as present; their files are already recorded there, so only the first
carries a manifest: the whole tarball's, for the packer (owners an unprivileged build cannot
set on disk).
"""
from __future__ import annotations

from pathlib import Path

from bootstrap.adapters import Installed
from bootstrap.adapters.apk.db import INSTALLED
from bootstrap.adapters.apk.facts import FACTS
from bootstrap.adapters.apk.index import iter_stanzas, package_from_stanza
from bootstrap.adapters.mirrors import arch_words, mirror_hint, reach_error, sibling_arches
from bootstrap.errors import ChecksumError, RepositoryNotFound, Unreachable, VerificationError
from bootstrap.root import Root
from bootstrap.types import Checksum, Fetcher, FetchItem, Log, Profile

SEEDED = "seeded"  # key in Installed.control marking a package the minirootfs brought


def parse_latest_releases(text: str) -> list[dict[str, str]]:
    """The entries of a latest-releases.yaml (a YAML list of flat mappings; only that shape)."""
    entries: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped in ("---", "") or stripped.startswith("#"):
            continue
        if stripped == "-" or stripped.startswith("- "):
            entries.append({})
            stripped = stripped[1:].strip()
            if not stripped:
                continue
        if ":" in stripped and entries:
            key, value = stripped.split(":", 1)
            entries[-1][key.strip()] = value.strip().strip('"')
    return entries


def choose_minirootfs(entries: list[dict[str, str]], arch: str) -> dict[str, str] | None:
    """The minirootfs entry of `arch` (the yaml lists one per flavor)."""
    for entry in entries:
        if entry.get("flavor") == "alpine-minirootfs" and entry.get("arch", arch) == arch:
            return entry
    return None


def _sha256_of(fetcher: Fetcher, url: str, entry: dict[str, str]) -> str | None:
    """The published sha256 of `url`: its `.sha256` file, else the yaml entry's; None when
    neither says."""
    published = fetcher.try_get_bytes(url + ".sha256")
    if published:
        return published.decode("ascii", "replace").split()[0].lower()
    return entry.get("sha256", "").lower() or None


def fetch_minirootfs(profile: Profile, arch: str, fetcher: Fetcher, log: Log, verify: bool) -> Path:
    """Find, download and check the release's minirootfs; returns the cached tarball.
    Raises RepositoryNotFound (nothing says where or which), ChecksumError (no digest to check
    it against while `verify`, or a mismatch), VerificationError (a named OpenPGP key is
    missing or its signature is bad)."""
    item = find_minirootfs(profile, arch, fetcher, log, verify)
    path = fetcher.get_file(item)
    _check_asc(profile, fetcher, item.url, path, log, verify)
    return path


def find_minirootfs(profile: Profile, arch: str, fetcher: Fetcher, log: Log, verify: bool) -> FetchItem:
    """Which minirootfs the release has and the digest it is published with (fetching only
    the small files that say so); the errors of fetch_minirootfs but the download's. A
    mirror that cannot be reached is `cannot reach HOST (why)`, with the layout it must have."""
    try:
        return _find_minirootfs(profile, arch, fetcher, log, verify)
    except Unreachable as exc:
        if not profile.repositories:
            raise
        raise reach_error(profile.repositories[0], exc) from None


def _no_releases(profile: Profile, base: str, arch: str, fetcher: Fetcher) -> RepositoryNotFound:
    """No latest-releases.yaml at `base`: the branch has no `arch` when its releases/ lists
    others (`Alpine Linux v3.16 has no riscv64 (it has: ...)`), else the URL itself."""
    url = f"{base}/latest-releases.yaml"
    found = sibling_arches(fetcher, url, arch, arch_words(FACTS))
    if found is not None and found[1]:
        what = " ".join(w for w in (profile.options.get("vendor_name", ""), profile.options.get("branch", "")) if w)
        return RepositoryNotFound(f"{what or found[0]} has no {arch} (it has: {', '.join(found[1])})",
                                  hint="choose one of them with --arch")
    hint = mirror_hint(profile.repositories[0], url) if profile.repositories else "check --mirror"
    return RepositoryNotFound(f"no latest-releases.yaml at {base}",
                              hint=f"name a point release (alpine3.16.9), or {hint}")


def _find_minirootfs(profile: Profile, arch: str, fetcher: Fetcher, log: Log, verify: bool) -> FetchItem:
    base = profile.options.get("releases_url", "").rstrip("/")
    if not base:
        raise RepositoryNotFound(f"profile {profile.name} says nowhere where its minirootfs is",
                                 hint="set releases_url in profiles/alpine.ini")
    entry: dict[str, str] = {}
    version = profile.options.get("point", "")
    if not version:
        text = fetcher.try_get_bytes(f"{base}/latest-releases.yaml")
        if text is None:
            raise _no_releases(profile, base, arch, fetcher)
        entry = choose_minirootfs(parse_latest_releases(text.decode("utf-8", "replace")), arch) or {}
        version = entry.get("version", "")
        if not version:
            raise RepositoryNotFound(f"{base}/latest-releases.yaml names no alpine-minirootfs for {arch}")
    name = entry.get("file") or f"alpine-minirootfs-{version}-{arch}.tar.gz"
    url = f"{base}/{name}"
    digest = _sha256_of(fetcher, url, entry)
    if digest is None and verify:
        raise ChecksumError(f"{url} has no published .sha256 to check it against",
                            hint="use a mirror that carries it, or --no-verify")
    log(f"minirootfs {version} ({arch}): {url}")
    checksums = (Checksum("sha256", digest),) if digest else ()
    return FetchItem(url, checksums, 0, name)


def _check_asc(profile: Profile, fetcher: Fetcher, url: str, path: Path, log: Log, verify: bool) -> None:
    """Check the tarball's `.asc` when there is one and the profile names its key."""
    signature = fetcher.try_get_bytes(url + ".asc")
    if signature is None or not verify:
        return
    key = profile.options.get("minirootfs_gpgkey", "")
    if not key:
        log(f"{url}.asc not checked: the profile names no OpenPGP key (its .sha256 was checked)")
        return
    from bootstrap.trust import verify_detached

    # A relative name is one of the project's keys/ (beside bootstrap/, three levels up).
    keyring = Path(key) if key.startswith("/") else Path(__file__).resolve().parents[3] / "keys" / key
    if not keyring.exists():
        raise VerificationError(f"OpenPGP key {keyring} for {url}.asc is missing")
    verify_detached(path.read_bytes(), signature, [keyring], log=log)


def seeded_packages(root: Root, arch: str, repo_url: str = "") -> list[Installed]:
    """Installed records (marked SEEDED, empty manifests) for what root's
    /lib/apk/db/installed lists; none when there is no database."""
    found = []
    for stanza in iter_stanzas(root.read_text_or(INSTALLED)):
        header = [(k, v) for k, v in stanza if k not in "FMRaZ"]
        pkg = package_from_stanza(header, repo_url, arch, "minirootfs")
        found.append(Installed(pkg, [], {SEEDED: b"1"}))
    return found


def seed(profile: Profile, arch: str, fetcher: Fetcher, root: Root, log: Log,
         pinned: FetchItem | None = None) -> list[Installed]:
    """Unpack the minirootfs into `root` through the safe unpacker (see the module
    docstring); returns what its database lists. `pinned` (a lock's) is that tarball, held
    to its digest: nothing is looked up on the mirror."""
    from bootstrap.unpack import Unpacker

    verify = all(r.verify for r in profile.repositories) if profile.repositories else True
    if pinned is not None:
        log(f"minirootfs (locked): {pinned.url}")
        path = fetcher.get_file(pinned)
    else:
        path = fetch_minirootfs(profile, arch, fetcher, log, verify)
    manifest = Unpacker(root).extract(path, "alpine-minirootfs")
    found = seeded_packages(root, arch, profile.repositories[0].url if profile.repositories else "")
    if found:
        # The tarball's owners and modes (root:shadow on /etc/shadow) for the packer, which an
        # unprivileged build cannot put on disk: carried by the first seeded record (the
        # database and scripts skip seeded ones; only the packer reads it).
        found[0] = Installed(found[0].package, list(manifest), found[0].control)
    log(f"minirootfs: {len(found)} packages already installed")
    return found
