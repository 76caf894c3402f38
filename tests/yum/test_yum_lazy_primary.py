"""The yum adapter's lazy primary.xml and its parsed-index cache (issue 11): the fast pass
(bootstrap/adapters/yum/fastprimary.py) gives, field for field and in order, what the eager
primary.parse_primary gives: on every real primary.xml of ../shared/realdata/yum, on
createrepo_c output of rpms built here with rpmbuild (rich and weak dependencies, file and
pre requires, epochs, XML special characters, UTF-8, a source rpm), and on a real primary
edited by hand into XML createrepo never writes (single quotes, comments, CDATA, attributes in
another order). A document it must not read fast (another encoding, a DTD, the rpm namespace
under another prefix) is Irregular and read eagerly; broken XML is a RepositoryIndexError as
it is for parse_primary. Through the adapter, against repositories signed here and served on
127.0.0.1 with the project's fetcher: an unchanged primary is served from <cache>/parsed/, a
changed one is scanned again, a damaged entry is noticed, dropped and rebuilt. Last, the
resolver gives the same answers on the lazy universe of CentOS Stream 9 BaseOS as on the
eager one."""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from bootstrap.adapters.yum import fastprimary
from bootstrap.adapters.yum import repo as yum_repo
from bootstrap.adapters.yum.adapter import YumAdapter
from bootstrap.adapters.yum.primary import parse_primary
from bootstrap.adapters.yum.repomd import decompress, parse_repomd
from bootstrap.errors import BootstrapError, RepositoryIndexError
from bootstrap.fetch import Fetcher
from bootstrap.indexcache import loaded
from bootstrap.resolve import resolve
from bootstrap.types import Package, Relation, Repository
from tests.conftest import REALDATA
from tests.server import Server
from tests.yum.yumrepo import _key, _run

URL = "http://mirror.test/repo/"
TOOLS = ("rpmbuild", "createrepo_c", "gpg")
# Every real primary the adapter can read; the zchunk ones (.zck) it cannot read at all.
REAL_PRIMARIES = sorted(p for p in (REALDATA / "yum").glob("*/repodata/*primary.xml*") if not p.name.endswith(".zck"))
SMALL = 50_000  # real primaries compressed to under this size are also fed one byte at a time


def _id(path: Path) -> str:
    return path.parent.parent.name


# -- helpers ----------------------------------------------------------------------------------


def pieces(text: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(text), size):
        yield text[start:start + size]


def scan(text: bytes, size: int, url: str = URL, repo_id: str = "r") -> list[Package]:
    """The lazy packages of a decompressed primary fed to the Scanner `size` bytes at a time;
    the text kept is what the Scanner says to keep (as the cache keeps it)."""
    scanner = fastprimary.Scanner("primary metadata of the test")
    kept = [scanner.feed(piece) for piece in pieces(text, size)]
    rest, meta = scanner.finish()
    whole = b"".join([*kept, rest])
    assert whole == text  # offsets count from the start of the text kept
    return fastprimary.packages(meta, lambda offset, length: whole[offset:offset + length], url, repo_id)


def eager(text: bytes, url: str = URL, repo_id: str = "r") -> list[Package]:
    return parse_primary(io.BytesIO(text), url, repo_id)


def assert_same(lazy: Sequence[Package], whole: Sequence[Package]) -> None:
    """Every field of every package, in order (a lazy package reads its element for some)."""
    assert [p.key for p in lazy] == [p.key for p in whole]
    for one, other in zip(lazy, whole, strict=True):
        for field in dataclasses.fields(Package):
            assert getattr(one, field.name) == getattr(other, field.name), (one.key, field.name)


@functools.cache
def real_text(path: Path) -> bytes:
    return decompress(path.read_bytes(), path.name)


def cs9() -> Path:
    return REALDATA / "yum" / "cs9-baseos-x86_64-2022"


def cs9_text() -> bytes:
    (path,) = (p for p in REAL_PRIMARIES if _id(p) == "cs9-baseos-x86_64-2022")
    return real_text(path)


def elements(text: str) -> list[tuple[int, int]]:
    """(start, end) of every <package> element of a primary createrepo wrote."""
    return [(m.start(), m.end()) for m in re.finditer(r"<package type=\"rpm\">.*?</package>", text, re.DOTALL)]


def edit_packages(text: str, edit: Callable[[int, str], str]) -> str:
    """`text` with each package element replaced by edit(its number, element)."""
    out, last = [], 0
    for number, (start, end) in enumerate(elements(text)):
        out += [text[last:start], edit(number, text[start:end])]
        last = end
    return "".join(out) + text[last:]


def publish_primary(top: Path, text: bytes, *, compressed: bytes | None = None) -> Repository:
    """A repository at `top` whose repomd.xml lists `text` as its primary.xml.gz (sha256,
    open-checksum, sizes, as createrepo_c writes them); `compressed` replaces the .gz."""
    data = gzip.compress(text, mtime=0) if compressed is None else compressed
    digest = hashlib.sha256(data).hexdigest()
    (top / "repodata").mkdir(parents=True)
    (top / "repodata" / f"{digest}-primary.xml.gz").write_bytes(data)
    (top / "repodata" / "repomd.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">{digest}</checksum>
    <open-checksum type="sha256">{hashlib.sha256(text).hexdigest()}</open-checksum>
    <location href="repodata/{digest}-primary.xml.gz"/>
    <timestamp>1700000000</timestamp>
    <size>{len(data)}</size>
    <open-size>{len(text)}</open-size>
  </data>
</repomd>
""")
    return Repository("hand", "yum", top.as_uri() + "/", verify=False)


def adapter_load(repo: Repository, cache: Path, log: list[str] | None = None) -> list[Package]:
    """The repository's packages through YumAdapter.load (repo.load_packages), with the
    project's fetcher and its cache."""
    lines = log if log is not None else []
    return YumAdapter().load(repo, "x86_64", Fetcher(cache), lines.append).packages


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "parsed").glob("*.idx"))


def leftovers(cache: Path) -> list[Path]:
    """Whatever an unfinished entry left in the parsed-index cache."""
    return sorted((cache / "parsed").glob("*")) if (cache / "parsed").is_dir() else []


def primary_of(top: Path) -> bytes:
    """The decompressed primary.xml of the repository at `top`, as repomd.xml names it."""
    entry = parse_repomd((top / "repodata" / "repomd.xml").read_bytes()).files["primary"]
    return decompress((top / entry.href).read_bytes(), entry.href)


class Refused(AssertionError):
    pass


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning primary or parsing it eagerly fails the test: a load must come from the cache."""
    class NoScanner:
        def __init__(self, where: str) -> None:
            raise Refused("primary was scanned again")

    def no_parse(*args: object, **kwargs: object) -> list[Package]:
        raise Refused("primary was parsed again")

    monkeypatch.setattr(fastprimary, "Scanner", NoScanner)
    monkeypatch.setattr(yum_repo, "parse_primary", no_parse)


def count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `where` of every Scanner made from now on."""
    made: list[str] = []

    class Counted(fastprimary.Scanner):
        def __init__(self, where: str) -> None:
            made.append(where)
            super().__init__(where)

    monkeypatch.setattr(fastprimary, "Scanner", Counted)
    return made


# -- 1. every real primary.xml ------------------------------------------------------------------


def test_every_readable_real_primary_is_selected(realdata: Path) -> None:
    """The selection below is every primary.xml* of realdata/yum but the zchunk ones."""
    every = sorted((realdata / "yum").glob("*/repodata/*primary.xml*"))
    assert [p for p in every if p not in REAL_PRIMARIES] == [p for p in every if p.name.endswith(".zck")]
    assert {_id(p) for p in REAL_PRIMARIES} >= {"cs9-baseos-x86_64-2022", "libzypp-opensuse-11.0-update-signed",
                                                "osbuild-custom-zst", "librepo-fc16-i686-signed"}
    assert len(REAL_PRIMARIES) == 10
    assert {p.suffix for p in REAL_PRIMARIES} == {".gz", ".zst"}


@pytest.mark.parametrize("size", [4096, 997])
@pytest.mark.parametrize("path", REAL_PRIMARIES, ids=_id)
def test_every_field_of_every_real_package_is_the_eager_parsers(realdata: Path, path: Path, size: int) -> None:
    text = real_text(path)
    whole = eager(text)
    assert whole
    lazy = scan(text, size)
    assert not any(loaded(p) for p in lazy)  # nothing read in full yet
    assert_same(lazy, whole)
    assert all(loaded(p) for p in lazy)


@pytest.mark.parametrize("path", [p for p in REAL_PRIMARIES if p.stat().st_size < SMALL], ids=_id)
def test_small_real_primaries_fed_one_byte_at_a_time(realdata: Path, path: Path) -> None:
    text = real_text(path)
    assert 0 < len(text) < 4 * SMALL
    assert_same(scan(text, 1), eager(text))


def test_the_real_pieces_of_the_adapter_over_a_real_repository(realdata: Path, tmp_path: Path) -> None:
    """CentOS Stream 9 BaseOS through the adapter (1 MiB pieces of the gzip stream), twice:
    scanned, then from the cache."""
    repo = Repository("baseos", "yum", cs9().as_uri() + "/")
    cache = tmp_path / "cache"
    whole = eager(cs9_text(), repo.url, repo.id)
    assert len(whole) == 1125
    assert_same(adapter_load(repo, cache), whole)
    assert len(entries(cache)) == 1
    assert_same(adapter_load(repo, cache), whole)


# -- 2. createrepo_c output of rpms built here ------------------------------------------------

SPEC_HEAD = """%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
Name: NAME
Version: VERSION
Release: RELEASE
License: MIT
"""
RICH = """Epoch: 3
Summary: Tom & Jerry <tj@example.org> "quoted" 'single' — ünïcödé ✓
Requires: (libfoo if bar)
Requires: (xa or ya)
Requires: (libfoo >= 1.2 if bar-plugins)
Requires: ((pa and pb) or pc)
Requires: /usr/bin/env
Requires: libbar >= 1:2.0-3
Requires(pre): /bin/sh
Requires(pre): shadow-utils
Requires(post): coreutils
Conflicts: (oldtool and oldlib)
Conflicts: (brokentool >= 2 or brokenlib)
Conflicts: badtool < 1.0
Obsoletes: ancient-tool < 2.0
Obsoletes: ancient-lib
Provides: tool-api = 2.1
Provides: tool-abi(x86-64) = 3:2.1-4
Provides: weird(a&b) = 1
Provides: /usr/bin/richtool-alias
Recommends: rich-tool-doc
Recommends: (rich-tool-gui if xorg)
Suggests: (zsh or bash)
Supplements: (rich-tool-base and langpacks-de)
Enhances: coreutils
%description
Ünïcödé description: naïve café — 日本語 & <tags> "q" ]]> --> &amp;
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc %{buildroot}/usr/share/rich-tool
printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/rich-tool
echo conf > %{buildroot}/etc/rich-tool.conf
echo doc > %{buildroot}/usr/share/rich-tool/README
%pre
true
%post
true
%files
%attr(0755,root,root) /usr/bin/rich-tool
%config(noreplace) /etc/rich-tool.conf
/usr/share/rich-tool/README
"""
DATA = """BuildArch: noarch
Summary: A <noarch> & data package ‘with’ “typographic” quotes
Requires: rich-tool = 3:2.1-4
Provides: rich-data(format) = 7
%description
Plain data: ü ß é.
%install
mkdir -p %{buildroot}/etc/rich %{buildroot}/usr/sbin
echo x > %{buildroot}/etc/rich/data.conf
printf '#!/bin/sh\\n' > %{buildroot}/usr/sbin/rich-data
%files
/etc/rich/data.conf
%attr(0755,root,root) /usr/sbin/rich-data
"""
# Hundreds of files in /usr/bin: an element far longer than any piece fed.
MANY = """BuildArch: noarch
Summary: many commands
Requires: /bin/sh
%description
many
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/many
for i in $(seq 1 300); do printf '#!/bin/sh\\n' > %{buildroot}/usr/bin/many-command-$i; done
echo x > %{buildroot}/etc/many/one.conf
%files
%attr(0755,root,root) /usr/bin/many-command-*
/etc/many/one.conf
"""
LATE = """BuildArch: noarch
Summary: published later
Requires: rich-data
%description
late
%install
mkdir -p %{buildroot}/etc
echo late > %{buildroot}/etc/late.conf
%files
/etc/late.conf
"""


def build(work: Path, name: str, version: str, release: str, body: str, arch: str = "noarch",
          source: bool = False) -> list[Path]:
    """rpmbuild of one spec (-ba with its source rpm), build time and host fixed."""
    spec = work / f"{name}.spec"
    spec.write_text(SPEC_HEAD.replace("NAME", name).replace("VERSION", version).replace("RELEASE", release) + body)
    top = work / "top"
    argv = ["rpmbuild", "-ba" if source else "-bb", "--define", f"_topdir {top}",
            "--define", "use_source_date_epoch_as_buildtime 1", "--define", "_buildhost lazy.test", str(spec)]
    if arch != "noarch":
        argv[2:2] = ["--target", f"{arch}-linux"]
    _run(argv, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    out = sorted((top / "RPMS").glob(f"*/{name}-{version}-{release}.*.rpm"))
    if source:
        out += sorted((top / "SRPMS").glob(f"{name}-{version}-{release}.src.rpm"))
    return out


@dataclasses.dataclass(frozen=True)
class Kit:
    """The rpms built here, and a throwaway key that signs repomd.xml."""

    rpms: tuple[Path, ...]  # rich-tool x86_64 and its src.rpm, rich-data, many-bins
    late: Path  # one more package, for the repository's next version
    gnupg: Path
    public: Path


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    assert not missing, f"needs {', '.join(missing)} (apt-get install rpm createrepo-c gpg)"
    work = tmp_path_factory.mktemp("yum-lazy")
    rpms = [*build(work, "rich-tool", "2.1", "4", RICH, "x86_64", source=True),
            *build(work, "rich-data", "1.0", "1", DATA),
            *build(work, "many-bins", "0.1", "2", MANY)]
    (late,) = build(work, "late-addition", "1.0", "1", LATE)
    _, public = _key(work / "gnupg", "Lazy Test <lazy@test.invalid>")
    yield Kit(tuple(rpms), late, work / "gnupg", public)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(work / "gnupg")},
                   capture_output=True)


def publish(top: Path, rpms: Sequence[Path], kit: Kit, revision: int) -> None:
    """createrepo_c over `rpms` in `top` (repodata/ made anew), repomd.xml signed (armored,
    detached) by the kit's key."""
    shutil.rmtree(top, ignore_errors=True)
    (top / "Packages").mkdir(parents=True)
    for rpm in rpms:
        shutil.copy(rpm, top / "Packages" / rpm.name)
    _run(["createrepo_c", "--revision", str(revision), str(top)])
    md = top / "repodata" / "repomd.xml"
    _run(["gpg", "--batch", "--yes", "--armor", "--detach-sign", "-o", f"{md}.asc", str(md)],
         env={**os.environ, "GNUPGHOME": str(kit.gnupg)})


def test_createrepo_c_output_of_rpms_built_here(kit: Kit, tmp_path: Path) -> None:
    publish(tmp_path / "repo", kit.rpms, kit, 1)
    text = primary_of(tmp_path / "repo")
    assert b"<arch>src</arch>" in text  # the source rpm is indexed, and left out by both
    whole = eager(text)
    assert sorted(p.key for p in whole) == ["many-bins=0.1-2.noarch", "rich-data=1.0-1.noarch",
                                            "rich-tool=3:2.1-4.x86_64"]
    for size in (4096, 997, 1):
        assert_same(scan(text, size), whole)
    # What the spec asked for is there (else the equality above proves little).
    rich = next(p for p in scan(text, 997) if p.name == "rich-tool")
    assert rich.version == "3:2.1-4"
    assert (Relation("libfoo"), Relation("bar", negated=True)) in rich.depends
    assert (Relation("xa"), Relation("ya")) in rich.depends
    assert (Relation("libfoo", ">=", "1.2"), Relation("bar-plugins", negated=True)) in rich.depends
    assert (Relation("/usr/bin/env"),) in rich.depends and (Relation("libbar", ">=", "1:2.0-3"),) in rich.depends
    assert {(Relation("/bin/sh"),), (Relation("shadow-utils"),)} <= set(rich.pre_depends)
    assert Relation("badtool", "<", "1.0") in rich.conflicts and rich.conflict_clauses
    assert Relation("ancient-tool", "<", "2.0") in rich.obsoletes and Relation("ancient-lib") in rich.obsoletes
    assert {Relation("tool-api", "=", "2.1"), Relation("weird(a&b)", "=", "1"),
            Relation("tool-abi(x86-64)", "=", "3:2.1-4")} <= set(rich.provides)
    assert rich.recommends and rich.suggests and rich.supplements and rich.enhances
    assert {"/usr/bin/rich-tool", "/etc/rich-tool.conf"} <= set(rich.files)
    assert dict(rich.fields)["summary"] == "Tom & Jerry <tj@example.org> \"quoted\" 'single' — ünïcödé ✓"
    assert dict(rich.fields)["sourcerpm"] == "rich-tool-2.1-4.src.rpm"
    many = next(p for p in whole if p.name == "many-bins")
    assert len(many.files) == 301


def hand_edited(text: str, markup: bool = True) -> tuple[str, dict[str, int]]:
    """A real primary edited into what createrepo never writes, one kind of edit per package
    in turn; how many packages each kind of edit changed. Without `markup`, no comment or
    CDATA (which send the whole document to the full parser)."""
    done = dict.fromkeys(("single quotes", "comment", "cdata", "reordered", "quoted entries", "cdata file",
                          "references", "rich obsoletes"), 0)

    def changed(kind: str, before: str, after: str) -> str:
        done[kind] += after != before
        return after

    def quote(m: re.Match[str]) -> str:
        return m[0].replace('"', "'")

    def reorder(m: re.Match[str]) -> str:
        attrs = re.findall(r'\w+="[^"]*"', m[2])
        return f"<{m[1]} {' '.join(reversed(attrs))}/>"

    def edit(number: int, element: str) -> str:
        kind = number % 8
        if not markup and kind in (1, 2, 5):
            return element
        if kind == 0:
            return changed("single quotes", element, re.sub(r"<version [^>]*/>", quote, element))
        if kind == 1:
            return changed("comment", element, element.replace("<format>", "<format><!-- edited by hand -->", 1)
                           .replace("</rpm:provides>", "<!-- <rpm:entry name=\"ghost\"/> --></rpm:provides>", 1))
        if kind == 2:
            return changed("cdata", element, re.sub(r"<summary>([^<]*)</summary>",
                                                    lambda m: f"<summary><![CDATA[{m[1]} & <more>]]></summary>",
                                                    element, count=1))
        if kind == 3:
            return changed("reordered", element, re.sub(r"<(rpm:entry|version) ([^>]*?)/>", reorder, element))
        if kind == 4:
            edited = element.replace('<package type="rpm">', "<package type='rpm'>", 1)
            return changed("quoted entries", element, re.sub(r"<rpm:entry [^>]*/>", quote, edited))
        if kind == 5:
            return changed("cdata file", element, re.sub(r"<file>([^<]*)</file>", r"<file><![CDATA[\1]]></file>",
                                                         element))
        if kind == 6:  # character references where createrepo writes the characters
            return changed("references", element, re.sub(r"<(name|arch)>(\w)", lambda m: f"<{m[1]}>&#{ord(m[2])};",
                                                         element))
        if "<rpm:obsoletes>" in element:
            return element
        return changed("rich obsoletes", element, element.replace(
            "<format>", '<format><rpm:obsoletes><rpm:entry name="(gone-a or gone-b)"/>'
            '<rpm:entry name="gone-c" flags="LT" epoch="1" ver="2"/></rpm:obsoletes>', 1))

    edited = edit_packages(text, edit)
    if markup:  # a comment between packages, too
        edited = edited.replace("</package>\n<package", "</package>\n<!-- between two packages -->\n<package", 50)
    return edited, done


def test_a_hand_edited_real_primary(realdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Single quotes, character references and entries with their attributes in another order:
    those elements go the ElementTree way in fastprimary, and come out as parse_primary reads
    them. Comments and CDATA send the whole document to the full parser (Irregular)."""
    original = cs9_text()
    text, done = hand_edited(original.decode(), markup=False)
    assert all(count >= 40 for kind, count in done.items() if kind not in ("comment", "cdata", "cdata file")), done
    data = text.encode()
    assert b"='" in data and b"&#" in data
    whole = eager(data)
    assert [p.key for p in whole] == [p.key for p in eager(original)]
    read_generally: list[str] = []
    general = fastprimary._general

    def counted(element: str) -> object:
        read_generally.append(element)
        return general(element)

    monkeypatch.setattr(fastprimary, "_general", counted)
    assert_same(scan(data, 4096), whole)
    # Not createrepo's layout: read attribute by attribute, not by the one expression.
    assert len(read_generally) >= done["references"] + done["single quotes"]
    # The edits change what some packages say: the rich obsoletes' atoms are obsoleted.
    edited = next(p for p in whole if Relation("gone-c", "<", "1:2") in p.obsoletes)
    assert {Relation("gone-a"), Relation("gone-b")} <= set(edited.obsoletes)
    marked, marks = hand_edited(original.decode())
    assert marks["comment"] >= 40 and marks["cdata"] >= 40 and b"<![CDATA[" in marked.encode()
    with pytest.raises(fastprimary.Irregular):
        scan(marked.encode(), 4096)


# -- 3. documents the fast pass must not read fast ------------------------------------------


def _small_real() -> str:
    (path,) = (p for p in REAL_PRIMARIES if _id(p) == "libzypp-obs-zypp-svn-11.1")
    return real_text(path).decode()


def irregular(kind: str) -> bytes:
    """A real primary (OBS, openSUSE 11.1) turned into a document createrepo does not write."""
    text = _small_real()
    head, rest = text.split("\n", 1)
    assert head == '<?xml version="1.0" encoding="UTF-8"?>'
    if kind == "latin-1":  # a Latin-1 byte in a summary, the encoding declared
        first = text.index("<summary>") + len("<summary>")
        text = text[:first] + "Caf\xe9 " + text[first:]
        return text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1).encode("latin-1")
    if kind == "dtd":
        return f'{head}\n<!DOCTYPE metadata SYSTEM "metadata.dtd">\n{rest}'.encode()
    if kind == "internal subset":
        return f"{head}\n<!DOCTYPE metadata [\n<!ELEMENT metadata ANY>\n]>\n{rest}".encode()
    if kind == "comment in the prolog":
        return f"{head}\n<!-- written by hand -->\n{rest}".encode()
    if kind == "rpm prefix":
        text = text.replace('xmlns:rpm="', 'xmlns:r="', 1)
        return text.replace("<rpm:", "<r:").replace("</rpm:", "</r:").encode()
    if kind == "entity":
        text = text.replace("<summary>", "<summary>&vendor; ", 1)
        return text.replace(head, f'{head}\n<!DOCTYPE metadata [\n<!ENTITY vendor "openSUSE">\n]>', 1).encode()
    raise AssertionError(kind)


def feed_all(text: bytes, size: int = 997) -> None:
    scanner = fastprimary.Scanner("primary metadata of the test")
    for piece in pieces(text, size):
        scanner.feed(piece)
    scanner.finish()


@pytest.mark.parametrize("kind", ["latin-1", "dtd", "internal subset", "comment in the prolog", "rpm prefix"])
def test_an_irregular_document_is_read_eagerly(kind: str, realdata: Path, tmp_path: Path) -> None:
    text = irregular(kind)
    whole = eager(text, tmp_path.joinpath("repo").as_uri() + "/", "hand")
    assert len(whole) == 30
    with pytest.raises(fastprimary.Irregular):
        feed_all(text)
    repo = publish_primary(tmp_path / "repo", text)
    cache = tmp_path / "cache"
    for _ in range(2):  # not cached: read eagerly every time
        assert_same(adapter_load(repo, cache), whole)
        assert entries(cache) == [] and leftovers(cache) == []
    if kind == "latin-1":
        assert any(dict(p.fields).get("summary", "").startswith("Café ") for p in whole)
    if kind == "rpm prefix":
        assert all(p.provides for p in whole)  # read in the rpm namespace, under its other prefix


def test_an_entity_is_refused_as_parse_primary_refuses_it(realdata: Path, tmp_path: Path) -> None:
    text = irregular("entity")
    with pytest.raises(RepositoryIndexError, match="entit"):
        eager(text)
    with pytest.raises(RepositoryIndexError, match="entit"):
        feed_all(text)
    cache = tmp_path / "cache"
    with pytest.raises(RepositoryIndexError, match="entit"):
        adapter_load(publish_primary(tmp_path / "repo", text), cache)
    assert entries(cache) == [] and leftovers(cache) == []


# -- 4. corrupt XML ---------------------------------------------------------------------------


def corrupt(kind: str) -> bytes:
    text = _small_real()
    spans = elements(text)
    start, end = spans[10]
    if kind == "truncated in a package":
        return text[:(start + end) // 2].encode()
    if kind == "truncated after a package":
        return text[:end].encode()
    if kind == "mismatched tag":
        return (text[:start] + text[start:end].replace("</name>", "</nam>", 1) + text[end:]).encode()
    if kind == "mismatched tag in format":
        return (text[:start] + text[start:end].replace("</rpm:provides>", "</rpm:provide>", 1) + text[end:]).encode()
    if kind == "unclosed package":
        return (text[:start] + text[start:end].replace("</package>", "", 1) + text[end:]).encode()
    if kind == "not UTF-8":
        return (text[:start] + text[start:end].replace("<summary>", "<summary>\xff", 1) + text[end:]).encode("latin-1")
    raise AssertionError(kind)


CORRUPT = ["truncated in a package", "truncated after a package", "mismatched tag", "mismatched tag in format",
           "unclosed package", "not UTF-8"]


@pytest.mark.parametrize("kind", CORRUPT)
def test_corrupt_xml_is_an_index_error_as_for_parse_primary(kind: str, realdata: Path, tmp_path: Path) -> None:
    text = corrupt(kind)
    with pytest.raises(RepositoryIndexError):
        eager(text)
    for size in (4096, 997):
        with pytest.raises(RepositoryIndexError, match="corrupt"):
            feed_all(text, size)
    cache = tmp_path / "cache"
    with pytest.raises(RepositoryIndexError, match="corrupt"):
        adapter_load(publish_primary(tmp_path / "repo", text), cache)
    assert leftovers(cache) == []  # no entry, not even a part of one


def test_corrupt_compression_is_an_index_error(realdata: Path, tmp_path: Path) -> None:
    text = _small_real().encode()
    data = gzip.compress(text, mtime=0)
    cache = tmp_path / "cache"
    with pytest.raises(RepositoryIndexError, match="corrupt"):
        adapter_load(publish_primary(tmp_path / "repo", text, compressed=data[:len(data) // 2]), cache)
    assert leftovers(cache) == []


# -- 5. the parsed-index cache, through the adapter, signed repositories on 127.0.0.1 -------------


@pytest.fixture()
def served(kit: Kit, tmp_path: Path) -> Iterator[tuple[Repository, Path]]:
    """(the repository on 127.0.0.1, its directory) of the kit's rpms, repomd.xml signed."""
    top = tmp_path / "mirror"
    publish(top / "repo", kit.rpms, kit, 1)
    with Server(top) as server:
        yield Repository("lazy", "yum", f"{server.url}/repo/", keyrings=(str(kit.public),)), top / "repo"


def reference(repo: Repository, top: Path) -> list[Package]:
    return eager(primary_of(top), repo.url, repo.id)


def test_an_unchanged_primary_is_served_from_the_cache(served: tuple[Repository, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo, top = served
    cache = tmp_path / "cache"
    log: list[str] = []
    first = adapter_load(repo, cache, log)
    assert any("repomd.xml signature verified" in line for line in log)
    assert_same(first, reference(repo, top))
    assert len(entries(cache)) == 1
    no_parsing(monkeypatch)
    log.clear()
    again = adapter_load(repo, cache, log)
    assert_same(again, reference(repo, top))
    assert any("repomd.xml signature verified" in line for line in log)  # still checked on a hit
    assert not any("corrupt" in line for line in log)


def test_a_changed_primary_is_scanned_again(kit: Kit, served: tuple[Repository, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    repo, top = served
    cache = tmp_path / "cache"
    assert "late-addition" not in {p.name for p in adapter_load(repo, cache)}
    (old,) = entries(cache)
    scans = count_scans(monkeypatch)
    adapter_load(repo, cache)
    assert scans == []  # unchanged: from the cache
    before = parse_repomd((top / "repodata" / "repomd.xml").read_bytes()).files["primary"].checksum
    publish(top, [*kit.rpms, kit.late], kit, 2)  # one more package: another primary, another digest
    after = parse_repomd((top / "repodata" / "repomd.xml").read_bytes()).files["primary"].checksum
    assert before != after
    packages = adapter_load(repo, cache)
    assert len(scans) == 1
    assert "late-addition" in {p.name for p in packages}
    assert_same(packages, reference(repo, top))
    (new,) = entries(cache)  # an entry of its own, and the old one is gone
    assert new != old
    assert_same(adapter_load(repo, cache), packages)  # and it is the one used from now on
    assert len(scans) == 1


def _damage(entry: Path, how: str) -> None:
    body = entry.read_bytes()
    middle = len(body) // 2
    if how == "truncated":
        entry.write_bytes(body[:middle])
    elif how == "overwritten":  # the same size, some text in the middle replaced
        evil = b'<package type="rpm"><name>evil</name>'
        entry.write_bytes(body[:middle] + evil + body[middle + len(evil):])
    elif how == "emptied":
        entry.write_bytes(b"")
    elif how == "header":  # the header's first bytes, so not even the magic reads
        entry.write_bytes(b"\0" * 8 + body[8:])
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "overwritten", "emptied", "header"])
def test_a_damaged_cache_entry_is_noticed_and_rebuilt(how: str, served: tuple[Repository, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo, top = served
    cache = tmp_path / "cache"
    adapter_load(repo, cache)
    (entry,) = entries(cache)
    _damage(entry, how)
    log: list[str] = []
    packages = adapter_load(repo, cache, log)
    notices = [line for line in log if "corrupt" in line]
    assert notices and all("parsed index" in line for line in notices), log
    assert_same(packages, reference(repo, top))
    assert len(entries(cache)) == 1  # made again
    no_parsing(monkeypatch)
    log.clear()
    assert_same(adapter_load(repo, cache, log), reference(repo, top))  # a clean hit
    assert not [line for line in log if "corrupt" in line]


# -- 6. resolutions on the lazy universe ------------------------------------------------------


def _outcome(universe: Sequence[Package], names: Sequence[str], adapter: YumAdapter) -> object:
    """What the resolver answers for `names`: every field of the packages chosen, in order, the
    reasons and warnings; or the refusal."""
    try:
        result = resolve(universe, [(Relation(n),) for n in names], adapter.version_scheme("x86_64"))
    except BootstrapError as exc:
        return (type(exc).__name__, exc.message, exc.hint)
    fields = [tuple(getattr(p, f.name) for f in dataclasses.fields(Package)) for p in result.packages]
    return fields, sorted(result.reasons.items()), list(result.warnings)


def test_the_resolvers_answers_do_not_change(realdata: Path, tmp_path: Path) -> None:
    repo = Repository("baseos", "yum", cs9().as_uri() + "/")
    adapter = YumAdapter()
    fetcher = Fetcher(tmp_path / "cache")
    lazy = adapter.load(repo, "x86_64", fetcher, lambda line: None).packages
    whole = eager(cs9_text(), repo.url, repo.id)
    core = adapter.expand_requests(["@core"], lazy, fetcher)
    assert "systemd" in core
    names = sorted({p.name for p in whole})
    rng = random.Random("yum-lazy-primary")
    requests = [core, ["bash"], ["systemd"], ["dnf"], ["openssh-server", "sudo"], ["no-such-package"]]
    requests += [rng.sample(names, rng.choice((1, 2, 3, 5))) for _ in range(30)]
    for wanted in requests:
        assert _outcome(lazy, wanted, adapter) == _outcome(whole, wanted, adapter), wanted
    assert 0 < sum(loaded(p) for p in lazy) < len(lazy)  # only what the resolutions visited was read
