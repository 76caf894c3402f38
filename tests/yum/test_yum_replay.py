"""A frozen or replaying yum mirror: a validly signed repomd.xml whose revision or timestamps
went backwards, a repomd.xml.asc stripped, and an rpm whose signature was removed. Repositories
made here with createrepo_c (`--revision`, `--set-timestamp-to-revision`), repomd.xml.asc by gpg,
packages by rpmbuild + rpmsign; read through the adapter with the project's fetcher."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bootstrap.adapters.yum.adapter import YumAdapter
from bootstrap.adapters.yum.repomd import parse_repomd
from bootstrap.adapters.yum.rollback import marks
from bootstrap.errors import StaleIndex, VerificationError
from bootstrap.fetch import Fetcher
from bootstrap.freshness import Mark, Seen
from bootstrap.types import RepoIndex, Repository, RepoTrust

TOOLS = ("createrepo_c", "gpg", "rpmbuild", "rpmsign")
SPEC = """%global debug_package %{nil}
Name: tiny
Version: 1.0
Release: 1
Summary: replay test package
License: MIT
BuildArch: noarch
%description
tiny
%install
mkdir -p %{buildroot}/usr/share/tiny
echo tiny > %{buildroot}/usr/share/tiny/README
%files
/usr/share/tiny/README
"""


def _run(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, env=env, stdin=subprocess.DEVNULL)


class Signer:
    """A throwaway gpg key: signs repomd.xml (armored, detached) and rpms (rpmsign)."""

    def __init__(self, home: Path) -> None:
        home.mkdir(mode=0o700, parents=True)
        self.env = {**os.environ, "GNUPGHOME": str(home)}
        _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Replay <replay@test.invalid>",
              "rsa2048", "sign", "never"], self.env)
        listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=self.env, capture_output=True,
                                 text=True, check=True).stdout
        self.fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        self.public = home.parent / "replay-key.asc"
        self.public.write_bytes(subprocess.run(["gpg", "--armor", "--export"], env=self.env,
                                               capture_output=True, check=True).stdout)

    def sign_rpm(self, rpm: Path) -> None:
        _run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define", f"_gpg_name {self.fpr}",
              str(rpm)], self.env)

    def sign_repomd(self, repo: Path) -> None:
        md = repo / "repodata" / "repomd.xml"
        _run(["gpg", "--batch", "--yes", "--armor", "--detach-sign", "-o", f"{md}.asc", str(md)], self.env)


def tiny_rpm(work: Path) -> Path:
    (work / "tiny.spec").write_text(SPEC)
    _run(["rpmbuild", "-bb", "--define", f"_topdir {work / 'top'}", str(work / "tiny.spec")])
    return next((work / "top" / "RPMS").glob("noarch/tiny-1.0-1.noarch.rpm"))


def publish(repo: Path, rpms: Sequence[Path], signer: Signer | None, revision: str,
            stamp: bool = False) -> None:
    """createrepo_c over `rpms` in `repo` (repodata/ made anew), signed unless `signer` is None.
    `stamp`: the files' timestamps are the (numeric) revision (--set-timestamp-to-revision)."""
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "Packages").mkdir(parents=True)
    for rpm in rpms:
        shutil.copy(rpm, repo / "Packages" / rpm.name)
    _run(["createrepo_c", "--revision", revision, *(["--set-timestamp-to-revision"] if stamp else []), str(repo)])
    if signer is not None:
        signer.sign_repomd(repo)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, Path]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    work = tmp_path_factory.mktemp("yum-replay")
    signer = Signer(work / "gnupg")
    rpm = tiny_rpm(work)
    signer.sign_rpm(rpm)
    return signer, rpm


def load(repo: Path, cache: Path, key: Path, *, verify: bool = True, **options: str) -> RepoIndex:
    repository = Repository("replay", "yum", repo.as_uri() + "/", keyrings=(str(key),), verify=verify,
                            options=tuple(options.items()))
    return YumAdapter().load(repository, "x86_64", Fetcher(cache), lambda line: None)


def state(repo: Path, cache: Path) -> dict[str, Mark] | None:
    return Seen(cache).recorded(repo.as_uri() + "/repodata/repomd.xml")


def test_revision_going_backwards_is_refused(kit: tuple[Signer, Path], tmp_path: Path) -> None:
    signer, rpm = kit
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    publish(repo, [rpm], signer, "1700000200", stamp=True)
    assert [p.name for p in load(repo, cache, signer.public).packages] == ["tiny"]
    assert {m.name: m.value for m in (state(repo, cache) or {}).values()} == \
        {"revision": 1700000200, "timestamp": 1700000200}
    publish(repo, [rpm], signer, "1700000200", stamp=True)  # the same again
    load(repo, cache, signer.public)
    publish(repo, [rpm], signer, "1700000100", stamp=True)
    with pytest.raises(StaleIndex, match=r"^repository replay: file://.*/repodata/repomd\.xml is older than the "
                                         r"one this cache saw \(revision 1700000100 < 1700000200\)$") as err:
        load(repo, cache, signer.public)
    assert str(Seen(cache).path(repo.as_uri() + "/repodata/repomd.xml")) in (err.value.hint or "")
    load(repo, tmp_path / "other-cache", signer.public)  # a cache that never saw the newer one
    load(repo, cache, signer.public, verify=False)  # --no-verify: neither checked nor recorded


def test_timestamps_going_backwards_are_refused(kit: tuple[Signer, Path], tmp_path: Path) -> None:
    """A hand-set higher revision does not hide metadata older than what this cache saw."""
    signer, rpm = kit
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    publish(repo, [rpm], signer, "4000000000", stamp=True)  # files stamped 2096
    load(repo, cache, signer.public)
    publish(repo, [rpm], signer, "4000000001")  # files stamped now
    with pytest.raises(StaleIndex, match=r"\(timestamp \d{4}-.* UTC < 2096-10-02 07:06:40 UTC\)$"):
        load(repo, cache, signer.public)
    # A free-text revision has no order: only the timestamps are compared.
    assert [m.name for m in marks(parse_repomd((repo / "repodata/repomd.xml").read_bytes()))] == \
        ["revision", "timestamp"]
    publish(repo, [rpm], signer, "release-2")
    assert [m.name for m in marks(parse_repomd((repo / "repodata/repomd.xml").read_bytes()))] == ["timestamp"]


def test_unsigned_repomd_is_neither_checked_nor_recorded(kit: tuple[Signer, Path], tmp_path: Path) -> None:
    """CentOS never signed repomd.xml: its values could be anyone's."""
    signer, rpm = kit
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    publish(repo, [rpm], None, "1700000200", stamp=True)
    load(repo, cache, signer.public)
    assert state(repo, cache) is None
    publish(repo, [rpm], None, "1700000100", stamp=True)
    load(repo, cache, signer.public)


def test_stripped_repomd_signature_is_refused(kit: tuple[Signer, Path], tmp_path: Path) -> None:
    signer, rpm = kit
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    publish(repo, [rpm], signer, "1700000200", stamp=True)
    (repo / "repodata" / "repomd.xml.asc").unlink()
    # repo_gpgcheck=1: a repomd.xml without its signature is never read.
    with pytest.raises(VerificationError, match=r"repo_gpgcheck=1 but .* has no repomd\.xml\.asc$"):
        load(repo, cache, signer.public, repo_gpgcheck="1")
    # repo_gpgcheck=0 (CentOS's): the first time, nothing says it was ever signed...
    load(repo, cache, signer.public)
    # ...but once this cache saw it signed, the signature cannot silently go.
    signer.sign_repomd(repo)
    load(repo, cache, signer.public)
    publish(repo, [rpm], None, "1700000100", stamp=True)  # an older repomd, its .asc stripped
    with pytest.raises(VerificationError, match=r"^repository replay: .*repomd\.xml comes without repomd\.xml\.asc, "
                                                r"but this cache saw it signed; the signature may have been "
                                                r"stripped$") as err:
        load(repo, cache, signer.public)
    assert "remove" in (err.value.hint or "")
    # A bad .asc (made for another repomd.xml) is a bad signature, whatever the cache saw.
    good = tmp_path / "good.asc"
    publish(repo, [rpm], signer, "1700000300", stamp=True)
    shutil.copy(repo / "repodata" / "repomd.xml.asc", good)
    publish(repo, [rpm], signer, "1700000400", stamp=True)
    shutil.copy(good, repo / "repodata" / "repomd.xml.asc")
    with pytest.raises(VerificationError, match=r"(?i)bad signature"):
        load(repo, tmp_path / "cache2", signer.public)


def test_rpm_with_its_signature_stripped_is_refused(kit: tuple[Signer, Path], tmp_path: Path) -> None:
    """gpgcheck=1 (the default): an rpm without signature (rpmsign --delsign), indexed again by
    whoever controls the (unsigned) metadata, is refused; gpgcheck=0 takes it on its digests."""
    signer, rpm = kit
    bare = tmp_path / rpm.name
    shutil.copy(rpm, bare)
    _run(["rpmsign", "--delsign", str(bare)])
    repo = tmp_path / "repo"
    publish(repo, [bare], None, "1")
    index = load(repo, tmp_path / "cache", signer.public)
    (pkg,) = index.packages
    path = repo / "Packages" / bare.name
    with pytest.raises(VerificationError, match=r"^package tiny-1\.0-1\.noarch is not signed, and its repository "
                                                r"asks for signed packages$"):
        YumAdapter().check_payload(pkg, path, index.trust)
    YumAdapter().check_payload(pkg, path, RepoTrust("replay", index.trust.url, False, index.trust.keyrings))
    YumAdapter().check_payload(pkg, _signed_copy(rpm, tmp_path), index.trust)  # the signed original passes


def _signed_copy(rpm: Path, tmp_path: Path) -> Path:
    """The signed original under the same name (its header is the index's too)."""
    copy = tmp_path / "signed" / rpm.name
    copy.parent.mkdir()
    shutil.copy(rpm, copy)
    return copy
