"""Where a build's mirrors come from and where they go, without a network: `--mirror` given
twice (config), the index failover apt and apk load through (adapters/mirrors.py), and the
packages' alternates the pipeline derives from a repository's mirrors. The real builds with
a dead, dying or lying mirror are in test_mirrors.py."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from bootstrap import config
from bootstrap.adapters.mirrors import load_from_mirrors
from bootstrap.errors import (
    BootstrapError,
    ConfigError,
    FetchError,
    NoSpaceError,
    RepositoryIndexError,
    RepositoryNotFound,
    VerificationError,
)
from bootstrap.payloads import alternates as _alternates
from bootstrap.types import Repository, RepoTrust


class TestIndexFailover:
    """adapters/mirrors.load_from_mirrors, what apt and apk load their index through."""

    REPO = Repository("main", "apt", "http://a/", alternates=("http://b/", "http://c/"))

    @staticmethod
    def loader(outcomes: dict[str, BaseException | str]) -> Callable[[Repository], str]:
        def load(repo: Repository) -> str:
            assert repo.alternates == ()
            outcome = outcomes[repo.url]
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        return load

    def test_first_that_serves_and_the_mirrors_after_it(self) -> None:
        log: list[str] = []
        load = self.loader({"http://a/": FetchError("cannot fetch http://a/InRelease: refused"),
                            "http://b/": "index of b", "http://c/": "index of c"})
        assert load_from_mirrors(self.REPO, load, log.append) == ("index of b", "http://b/", ("http://c/",))
        assert len(log) == 1 and "trying http://b/" in log[0]

    @pytest.mark.parametrize("errors,kind", [
        ([FetchError("down"), FetchError("down"), FetchError("down")], FetchError),
        ([FetchError("down"), RepositoryNotFound("no Release"), FetchError("down")], RepositoryNotFound),
        ([RepositoryNotFound("no"), VerificationError("bad signature"), FetchError("down")], VerificationError),
        ([RepositoryIndexError("corrupt"), FetchError("down"), RepositoryNotFound("no")], RepositoryIndexError),
    ], ids=["all-down", "down-or-absent", "forged", "corrupt"])
    def test_every_mirror_fails_one_line_of_the_gravest_kind(self, errors: list[BootstrapError],
                                                             kind: type[BootstrapError]) -> None:
        load = self.loader(dict(zip(("http://a/", "http://b/", "http://c/"), errors, strict=True)))
        with pytest.raises(BootstrapError) as info:
            load_from_mirrors(self.REPO, load, lambda line: None)
        assert type(info.value) is kind and "\n" not in str(info.value) and info.value.hint
        assert all(url in str(info.value) for url in ("http://a/", "http://b/", "http://c/"))

    def test_one_mirror_error_unchanged(self) -> None:
        error = VerificationError("Release file expired")
        with pytest.raises(VerificationError) as info:
            load_from_mirrors(Repository("main", "apt", "http://a/"), self.loader({"http://a/": error}),
                              lambda line: None)
        assert info.value is error

    def test_local_faults_stop_at_once(self) -> None:
        load = self.loader({"http://a/": NoSpaceError("no space"), "http://b/": "index of b",
                            "http://c/": "index of c"})
        with pytest.raises(NoSpaceError):
            load_from_mirrors(self.REPO, load, lambda line: None)


class TestMirrorConfig:
    def test_mirror_given_twice_gives_every_repository_an_alternate(self) -> None:
        prof = config.load_profile("centos4.3", config.Overrides(
            mirror="http://a.example/vault", alternate_mirrors=("http://b.example/centos/",)))
        base = next(r for r in prof.repositories if r.id == "base")
        assert base.url == "http://a.example/vault/4.3/os/i386/"
        assert base.alternates == ("http://b.example/centos/4.3/os/i386/",)

    def test_a_repository_not_under_the_mirror_gets_none(self) -> None:
        prof = config.load_profile("debian-bookworm", config.Overrides(
            mirror="http://a.example/debian", alternate_mirrors=("http://b.example/debian",)),
            environ={"ROOTFS_BOOTSTRAP_DEBIAN_SECURITY_MIRROR": "http://s.example/debian-security"})
        by_id = {r.id: r for r in prof.repositories}
        assert by_id["main"].alternates == ("http://b.example/debian",)
        assert by_id["security"].url == "http://s.example/debian-security" and by_id["security"].alternates == ()

    def test_a_bad_alternate_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError) as info:
            config.load_profile("centos4.3", config.Overrides(mirror="http://a.example/",
                                                              alternate_mirrors=("ftp://b.example/",)))
        assert "--mirror" in str(info.value)

    def test_package_alternates_keep_the_path_below_each_mirror(self) -> None:
        trust = RepoTrust("base", "http://a/4.3/os/i386/", mirrors=("http://b/4.3/os/i386", "file:///m/"))
        assert _alternates("http://a/4.3/os/i386/RPMS/x.rpm", trust) == (
            "http://b/4.3/os/i386/RPMS/x.rpm", "file:///m/RPMS/x.rpm")
        assert _alternates("http://elsewhere/RPMS/x.rpm", trust) == ()
        assert _alternates("http://a/4.3/os/i386-other/x.rpm", trust) == ()
        assert _alternates("http://a/4.3/os/i386/RPMS/x.rpm", RepoTrust("base", "http://a/")) == ()
