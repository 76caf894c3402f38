"""apk's protected paths, judged by the real apk-tools 2.12.9 of the 3.16.9 minirootfs.

Each test is one scenario: the same minirootfs (seeded by the adapter in one copy, extracted by
tar in the other), the same change to it where the scenario needs one, the same packages
(made here with abuild's layout, or apko's melange-built pair). The adapter installs them in
one copy, `apk add --allow-untrusted` in the other; then the trees must be the same file for
file (type, content, owner, mode; the database, world, repositories and the key the adapter
adds aside), and so must every package's installed-database stanza and `apk audit`.
What apk does (database.c, apk_db_migrate_files): in a protected directory (/etc and what
etc/apk/protected_paths.d says) a file already there is kept when no package owns it or it is
not what its owner recorded, and the new one is written as PATH.apk-new (not at all when it
is the same); an unchanged file of its owner is replaced, and so is anything elsewhere.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.adapters.apk.adapter import ApkAdapter
from bootstrap.adapters.apk.db import parse_installed
from bootstrap.adapters.apk.protected import ProtectedPaths, parse_rules
from bootstrap.root import Root
from bootstrap.types import Profile, Repository, Target
from tests.apk.apkrepo import (
    DATA,
    ApkSpec,
    DirFetcher,
    FileSpec,
    chroot,
    extract_minirootfs,
    make_apk,
    make_index,
    make_key,
    need_root_chroot,
    real,
)

MINI = "alpine-minirootfs-3.16.9-x86_64.tar.gz"
# What differs by design between the two copies: apk's own database (compared stanza by
# stanza), world (`apk add FILE` pins checksums), repositories (the adapter writes the
# profile's), the repository key the adapter adds, and the .apk files given to the real apk.
_ASIDE = ("lib/apk/db/", "etc/apk/world", "etc/apk/repositories", "tmp/")

Change = Callable[[Path], None]


def _seeded(tmp_path: Path, repo_dir: Path, keys: list[Path]) -> tuple[ApkAdapter, Path]:
    """An adapter whose profile's minirootfs is the real 3.16.9 one, seeded into `ours`."""
    tarball = real(f"minirootfs/{MINI}")
    releases = tmp_path / "mirror" / "v3.16" / "releases" / "x86_64"
    releases.mkdir(parents=True)
    shutil.copy(tarball, releases / MINI)
    (releases / f"{MINI}.sha256").write_text(f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  {MINI}\n")
    repo = Repository("main", "apk", repo_dir.parent.as_uri(), keyrings=tuple(str(k) for k in keys))
    profile = Profile("alpine-test", "apk", "alpine", "3.16", "x86_64", (repo,),
                      options={"releases_url": releases.as_uri(), "point": "3.16.9"})
    adapter = ApkAdapter(profile)
    ours = tmp_path / "ours"
    ours.mkdir()
    adapter.seed(DirFetcher(), Root(ours), lambda line: None, "default")
    return adapter, ours


def _install(adapter: ApkAdapter, root: Path, repo_dir: Path, names: list[str]) -> None:
    """What the pipeline does after the seed: prepare, check and unpack each package, register."""
    assert adapter.profile is not None
    repo = adapter.profile.repositories[0]
    index = adapter.load(repo, "x86_64", DirFetcher(), lambda line: None)
    universe = {p.name: p for p in index.packages}
    tree = Root(root)
    adapter.prepare_root(tree)
    installed = []
    for name in names:
        pkg = universe[name]
        adapter.check_payload(pkg, repo_dir / pkg.filename, index.trust)
        installed.append(adapter.unpack(pkg, repo_dir / pkg.filename, tree))
    adapter.register(tree, installed, Target("x86_64", tuple(names), {repo.id: index.trust}))


def judged(tmp_path: Path, specs: list[ApkSpec], change: Change | None = None) -> tuple[Path, Path]:
    """(the adapter's root, apk's root) after installing `specs`, in that order, into two
    copies of the minirootfs that `change` altered alike first."""
    need_root_chroot()
    key = make_key(tmp_path / "keys")
    repo_dir = tmp_path / "repo" / "x86_64"
    for spec in specs:
        make_apk(spec, key, repo_dir)
    make_index(repo_dir, key)
    return _judged_repo(tmp_path, repo_dir, [key.public], [s.name for s in specs], change)


def _judged_repo(tmp_path: Path, repo_dir: Path, keys: list[Path], names: list[str],
                 change: Change | None) -> tuple[Path, Path]:
    need_root_chroot()
    adapter, ours = _seeded(tmp_path, repo_dir, keys)
    ref = extract_minirootfs(MINI, tmp_path / "ref")
    for root in (ours, ref):
        if change is not None:
            change(root)
    _install(adapter, ours, repo_dir, names)
    for name in names:
        shutil.copy(next(repo_dir.glob(f"{name}-[0-9]*.apk")), ref / "tmp" / f"{name}.apk")
    chroot(ref, "apk add --no-network --allow-untrusted " + " ".join(f"/tmp/{n}.apk" for n in names))
    assert_same(ours, ref, tuple(f"etc/apk/keys/{k.name}" for k in keys))
    return ours, ref


def _tree(root: Path, aside: tuple[str, ...]) -> dict[str, tuple[object, ...]]:
    """Every path but those set aside: its type, owner, mode and content (or link target)."""
    found: dict[str, tuple[object, ...]] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if rel.startswith(aside) or rel + "/" in aside:
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                what: object = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                what = None
            found[rel] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), what)
    return found


def _stanzas(root: Path) -> dict[str, tuple[object, ...]]:
    text = (root / "lib/apk/db/installed").read_text()
    return {s.name: (s.header, sorted((d.name, d.lines, [(f.name, f.lines) for f in d.files]) for d in s.dirs))
            for s in parse_installed(text)}


def assert_same(ours: Path, ref: Path, keys: tuple[str, ...]) -> None:
    """The adapter's root is what `apk add` made of the same root (see the module docstring);
    `keys` are the repository keys the adapter added."""
    mine, theirs = _tree(ours, _ASIDE + keys), _tree(ref, _ASIDE + keys)
    assert {k: v for k, v in mine.items() if k not in theirs} == {}
    assert {k: v for k, v in theirs.items() if k not in mine} == {}
    assert {k: (v, theirs[k]) for k, v in mine.items() if v != theirs[k]} == {}
    assert _stanzas(ours) == _stanzas(ref)
    added = {f"A {key}" for key in keys}
    audit = set(chroot(ours, "apk audit").stdout.splitlines())
    assert audit - added == set(chroot(ref, "apk audit").stdout.splitlines())


def _etc(name: str, files: dict[str, FileSpec], **kwargs: object) -> ApkSpec:
    """A package of `files` and the directories above them."""
    tree: dict[str, FileSpec] = {"etc": ("dir",)}
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            tree["/".join(parts[:i])] = ("dir",)
    tree.update(files)
    return ApkSpec(name=name, files=tree, **kwargs)  # type: ignore[arg-type]


def test_the_seeds_unowned_os_release_is_kept_beside_replayouts(tmp_path: Path) -> None:
    """Issue 14's case: apko's pretend-baselayout, then replayout (which replaces it), both
    with an /etc/os-release, over the minirootfs's /etc/os-release that no package owns."""
    repo_dir = DATA / "testrepo" / "x86_64"
    ours, _ = _judged_repo(tmp_path, repo_dir, [DATA / "testrepo" / "melange.rsa.pub"],
                           ["pretend-baselayout", "replayout"], None)
    assert (ours / "etc/os-release").read_text().startswith('NAME="Alpine Linux"')
    assert (ours / "etc/os-release.apk-new").read_text().startswith("ID=replaces")


def test_an_unowned_file_the_same_as_the_packages_gets_no_apk_new(tmp_path: Path) -> None:
    """The same content: the file on disk stays as it is (its mode too, not the package's
    0600), no .apk-new is left, and the package owns the path with its own mode."""
    need_root_chroot()
    content = extract_minirootfs(MINI, tmp_path / "peek").joinpath("etc/os-release").read_bytes()
    spec = _etc("same-release", {"etc/os-release": content},
                owners={"etc/os-release": ("root", "root", 0, 0, 0o600)})
    ours, _ = judged(tmp_path, [spec])
    assert not (ours / "etc/os-release.apk-new").exists()
    assert stat.S_IMODE((ours / "etc/os-release").stat().st_mode) == 0o644
    assert "R:os-release\na:0:0:600\n" in (ours / "lib/apk/db/installed").read_text().split("P:same-release", 1)[1]


def test_an_owned_unchanged_file_is_replaced(tmp_path: Path) -> None:
    """/etc/hostname is alpine-baselayout-data's and as it recorded it: a package replacing
    that package takes it."""
    ours, _ = judged(tmp_path, [_etc("hostname", {"etc/hostname": b"box\n"},
                                     replaces=("alpine-baselayout-data",))])
    assert (ours / "etc/hostname").read_bytes() == b"box\n" and not (ours / "etc/hostname.apk-new").exists()


def test_an_owned_file_changed_since_is_kept(tmp_path: Path) -> None:
    def edit(root: Path) -> None:
        (root / "etc/hostname").write_text("edited\n")

    ours, _ = judged(tmp_path, [_etc("hostname", {"etc/hostname": b"box\n"},
                                     replaces=("alpine-baselayout-data",))], edit)
    assert (ours / "etc/hostname").read_text() == "edited\n"
    assert (ours / "etc/hostname.apk-new").read_bytes() == b"box\n"


def test_outside_protected_paths_an_unowned_file_is_replaced(tmp_path: Path) -> None:
    def plant(root: Path) -> None:
        (root / "usr/share/planted").mkdir(parents=True)
        (root / "usr/share/planted/file").write_text("local\n")

    spec = ApkSpec(name="planter", files={"usr": ("dir",), "usr/share": ("dir",), "usr/share/planted": ("dir",),
                                          "usr/share/planted/file": b"packaged\n"})
    ours, _ = judged(tmp_path, [spec], plant)
    assert (ours / "usr/share/planted/file").read_bytes() == b"packaged\n"


def test_init_d_is_protected_too(tmp_path: Path) -> None:
    """`@etc/init.d` (symlinks only, for apk audit) protects files there as much as `+etc`."""
    def plant(root: Path) -> None:
        (root / "etc/init.d").mkdir(exist_ok=True)
        (root / "etc/init.d/svc").write_text("local\n")

    ours, _ = judged(tmp_path, [_etc("svc", {"etc/init.d/svc": b"#!/sbin/openrc-run\n"})], plant)
    assert (ours / "etc/init.d/svc").read_text() == "local\n"
    assert (ours / "etc/init.d/svc.apk-new").exists()


def test_a_list_in_protected_paths_d_unprotects_and_protects(tmp_path: Path) -> None:
    """A root's etc/apk/protected_paths.d/*.list: `-etc/open` lifts the protection of that
    directory, `+usr/share/guarded` adds one (files beside the lists that are not *.list are
    not read)."""
    def setup(root: Path) -> None:
        lists = root / "etc/apk/protected_paths.d"
        (lists / "test.list").write_text("# a comment\n-etc/open\n+usr/share/guarded/\n")
        (lists / "ignored.txt").write_text("-etc\n")
        for rel in ("etc/open/conf", "etc/closed/conf", "usr/share/guarded/conf"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("local\n")

    files: dict[str, FileSpec] = {"etc/open/conf": b"new\n", "etc/closed/conf": b"new\n", "usr": ("dir",),
                                  "usr/share": ("dir",), "usr/share/guarded": ("dir",),
                                  "usr/share/guarded/conf": b"new\n"}
    ours, _ = judged(tmp_path, [_etc("lists", files)], setup)
    assert (ours / "etc/open/conf").read_text() == "new\n"
    assert (ours / "etc/closed/conf").read_text() == "local\n" and (ours / "etc/closed/conf.apk-new").exists()
    assert (ours / "usr/share/guarded/conf").read_text() == "local\n"


def test_a_file_of_an_earlier_package_of_the_build_is_replaced_by_one_that_replaces_it(tmp_path: Path) -> None:
    """Within one build (one apk transaction): the first package's /etc file is unchanged, so
    the package replacing it takes it."""
    first = _etc("first", {"etc/shared.conf": b"first\n"})
    second = _etc("second", {"etc/shared.conf": b"second\n"}, replaces=("first",), depends=("first",))
    ours, _ = judged(tmp_path, [first, second])
    assert (ours / "etc/shared.conf").read_text() == "second\n" and not (ours / "etc/shared.conf.apk-new").exists()


def test_an_unowned_symlink_is_kept_beside_the_packages_file(tmp_path: Path) -> None:
    def plant(root: Path) -> None:
        os.symlink("hostname", root / "etc/linked")

    ours, _ = judged(tmp_path, [_etc("linked", {"etc/linked": b"a file\n"})], plant)
    assert os.readlink(ours / "etc/linked") == "hostname"
    assert (ours / "etc/linked.apk-new").read_bytes() == b"a file\n"


@pytest.mark.parametrize(("directory", "protected"), [
    ("", False), ("etc", True), ("etc/apk", True), ("etc/init.d", True), ("etc/a/b", True),
    ("usr/etc", False), ("etcetera", False), ("etc/open", False), ("etc/open/deeper", False), ("var/x", True),
])
def test_protection_is_per_directory_as_apk_reads_the_rules(directory: str, protected: bool) -> None:
    rules = parse_rules("+etc\n@etc/init.d\n!etc/apk\n") + parse_rules("-etc/open\nvar/*\n")
    assert ProtectedPaths(rules).covers(directory) is protected


def test_a_hard_link_to_a_kept_file_links_to_its_apk_new(tmp_path: Path) -> None:
    """etc/os-release goes to .apk-new (the seed's is kept); the package's hard link to it,
    at a free path, is the same file as that .apk-new, as apk's extraction to a temporary name
    then rename makes it."""
    spec = _etc("linked-release", {"etc/os-release": b"ID=linked\n", "etc/os-release2": ("hardlink", "etc/os-release")})
    for root in judged(tmp_path, [spec]):
        assert (root / "etc/os-release2").stat().st_ino == (root / "etc/os-release.apk-new").stat().st_ino
        assert (root / "etc/os-release2").read_bytes() == b"ID=linked\n"
