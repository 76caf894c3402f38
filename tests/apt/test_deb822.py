"""The one deb822 reader (indexes, dpkg's status and control files) and its bad-line policy;
the preinst order built on bootstrap.resolve.order; start-stop-daemon's diversion."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootstrap.adapters import Installed
from bootstrap.adapters.apt import deb822
from bootstrap.adapters.apt.packages import parse_packages, split_stanzas
from bootstrap.adapters.apt.scripts import install_order, services_disabled
from bootstrap.adapters.apt.status import parse_control, stanza_map
from bootstrap.errors import ConfigureError, RepositoryIndexError
from bootstrap.root import Root
from bootstrap.types import Package, Relation


def _never(line: str) -> Exception:
    raise AssertionError(f"no line is bad here: {line!r}")


def test_stanzas_keep_continuations_and_decode_each_paragraph() -> None:
    data = (b"A: 1\r\nB:\r\n two\r\n .  \r\n# a comment\r\n \t\r\n"
            b"Maintainer: J\xf6rg\n\n\nC: \xc3\xa9t\xc3\xa9\n")
    assert list(deb822.stanzas(data, _never)) == [
        [("A", "1"), ("B", "\n two\n .")], [("Maintainer", "Jörg")], [("C", "été")]]
    assert list(deb822.paragraphs("a: 1\n\n \n\nb: 2\n")) == ["a: 1", "b: 2\n"]


@pytest.mark.parametrize("line", ["no colon here", " continuation of nothing"])
def test_a_bad_line_raises_the_callers_error(line: str) -> None:
    with pytest.raises(RepositoryIndexError, match="malformed index line"):
        list(split_stanzas(f"{line}\nPackage: a\n"))
    with pytest.raises(RepositoryIndexError):
        parse_packages(f"Package: a\nVersion: 1\n\n{line}\nPackage: b\n".encode(), base_url="x", repo_id="r")
    with pytest.raises(ConfigureError, match="status file has a malformed line"):
        stanza_map(f"Package: a\nStatus: install ok installed\n\n{line}\nPackage: b\n")
    with pytest.raises(ConfigureError, match=r"^the control file of foo has a malformed line"):
        parse_control(f"{line}\nPackage: foo\n", source="the control file of foo")


def _item(name: str, arch: str = "all", deps: tuple[str, ...] = (), provides: tuple[str, ...] = (),
          essential: bool = False) -> Installed:
    return Installed(Package(name, "1", arch, depends=tuple((Relation(d),) for d in deps),
                             provides=tuple(Relation(p) for p in provides), essential=essential), [])


def test_install_order_keeps_every_item_and_prefers_real_names_to_provides() -> None:
    items = [_item("lib", "amd64", deps=("zzz",)), _item("lib", "i386"), _item("zzz"),
             _item("app", deps=("lib", "virt", "mta")), _item("aaa-fake-lib", provides=("lib",)),
             _item("virt"), _item("exim", provides=("mta",)),
             _item("sh", essential=True, deps=("libsh",)), _item("libsh")]
    order = install_order(items)
    assert sorted(map(id, order)) == sorted(map(id, items))  # both architectures of lib, once each
    assert [i.package.name for i in order[:2]] == ["libsh", "sh"]  # Essential, and what it needs
    at = {i.package.name if i.package.name != "lib" else f"lib:{i.package.arch}": n for n, i in enumerate(order)}
    # `lib` means lib itself (the first of its architectures), not aaa-fake-lib, which provides it.
    assert at["zzz"] < at["lib:amd64"] < at["app"]
    assert at["virt"] < at["app"] and at["exim"] < at["app"]  # `mta` is only provided: its provider


def test_services_disabled_leaves_a_symlinked_start_stop_daemon_alone(tmp_path: Path) -> None:
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/bin").mkdir()
    (tmp_path / "usr/bin/busybox").write_bytes(b"busybox")
    os.symlink("/usr/bin/busybox", tmp_path / "usr/sbin/start-stop-daemon")
    with services_disabled(Root(tmp_path)):
        assert (tmp_path / "usr/bin/busybox").read_bytes() == b"busybox"
        assert (tmp_path / "usr/sbin/start-stop-daemon").is_symlink()
    assert sorted(os.listdir(tmp_path / "usr/sbin")) == ["start-stop-daemon"]
