"""The real apk (apk-tools 2.12.9 of Alpine 3.16's minirootfs) as the judge of our resolver.

A scenario is a universe of `Package` records and a list of requests. `apkindex_text` writes the
universe as an APKINDEX (the fields apk-tools' solver reads: P V A D p i k, plus the C S I T it
wants to see), `index_tarball` packs it unsigned, and `RealApk` asks the real apk, in one
extracted minirootfs, what `apk add --simulate REQUESTS` would install on an empty root:

    apk --root /target --arch x86_64 --allow-untrusted --no-cache --repository /repo/N \
        add --simulate TOKENS

`/target` is initialised once (`--initdb`, no packages); `--simulate` writes nothing, so every
scenario starts from the same empty database. Many scenarios go into one chroot call (one apk
process each), which keeps a scenario at a few milliseconds.

The answer is an `Outcome`: the installed set as `name=version` words, or the failure apk
printed. Architectures: a case's first (native) arch becomes `x86_64`, an arch-independent one
`noarch`; any other is written as it is (apk then treats it as foreign).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import shutil
import tarfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.adapters.apk.index import format_relation, parse_apkindex
from bootstrap.errors import ResolveError
from bootstrap.resolve import resolve
from bootstrap.types import Dependency, Package, Relation, VersionScheme
from tests.apk.apkrepo import chroot, extract_minirootfs

ARCH = "x86_64"
MINIROOTFS_NAME = "alpine-minirootfs-3.16.9-x86_64.tar.gz"
_INSTALLING = re.compile(r"^\(\d+/\d+\) Installing (\S+) \((\S+)\)$", re.MULTILINE)
_APK = "/sbin/apk --root /target --arch x86_64 --allow-untrusted --no-cache"


@dataclass(frozen=True)
class Outcome:
    """What a resolver said: `installed` (`name=version` words) when it succeeded, else None
    and `error` holds its message. Two outcomes agree when both failed or both installed the
    same set (error texts differ between apk and us and are not compared)."""

    installed: frozenset[str] | None
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.installed is None

    def agrees(self, other: Outcome) -> bool:
        return self.installed == other.installed

    def __str__(self) -> str:
        if self.installed is None:
            return f"error: {self.error.strip()}"
        return " ".join(sorted(self.installed)) or "(nothing)"


@dataclass(frozen=True)
class Scenario:
    """A universe and its requests, as `apk add` takes them (one relation per request)."""

    universe: tuple[Package, ...]
    requests: tuple[Dependency, ...]


def apk_arch(arch: str, native: str, independent: Collection[str]) -> str:
    """The APKINDEX `A:` word for a package arch: native → x86_64, independent → noarch."""
    if arch == native:
        return ARCH
    return "noarch" if arch in independent else arch


def _checksum(pkg: Package, ordinal: int) -> str:
    """A fake but well-formed `C:` (Q1 + base64 SHA-1), unique per stanza."""
    digest = hashlib.sha1(f"{ordinal}:{pkg.name}-{pkg.version}".encode()).digest()
    return "Q1" + base64.b64encode(digest).decode()


def stanza(pkg: Package, ordinal: int, arch: str) -> str:
    """One APKINDEX stanza; conflicts go into `D:` as `!name`, negated triggers into `i:`.
    Only single-alternative dependencies exist in apk: alternatives raise ValueError."""
    deps = []
    for dep in pkg.depends:
        if len(dep) != 1:
            raise ValueError(f"{pkg.name}: apk has no alternatives ({dep})")
        deps.append(format_relation(dep[0]))
    deps += [format_relation(c, negated=True) for c in pkg.conflicts]
    lines = [f"C:{_checksum(pkg, ordinal)}", f"P:{pkg.name}", f"V:{pkg.version}", f"A:{arch}",
             "S:1024", "I:4096", f"T:{pkg.name} for the resolver's reference tests"]
    if deps:
        lines.append("D:" + " ".join(deps))
    if pkg.provides:
        lines.append("p:" + " ".join(format_relation(p) for p in pkg.provides))
    if pkg.install_if:
        lines.append("i:" + " ".join(format_relation(r.positive, negated=r.negated) for r in pkg.install_if))
    if pkg.provider_priority:
        lines.append(f"k:{pkg.provider_priority}")
    return "\n".join(lines) + "\n"


def apkindex_text(universe: Sequence[Package], native: str = ARCH,
                  independent: Collection[str] = ("noarch",)) -> str:
    """The APKINDEX text of `universe`, stanzas in the universe's order."""
    return "\n".join(stanza(p, i, apk_arch(p.arch, native, independent))
                     for i, p in enumerate(universe)) + "\n"


def index_tarball(text: str) -> bytes:
    """An unsigned APKINDEX.tar.gz (DESCRIPTION + APKINDEX), as `apk index` lays it out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, body in (("DESCRIPTION", b"reference"), ("APKINDEX", text.encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(buf.getvalue(), mtime=0)


def request_tokens(requests: Sequence[Dependency]) -> list[str]:
    """`apk add` arguments for requests (`name`, `name>=1.2`, `name~1`); apk takes no
    alternatives (ValueError)."""
    tokens = []
    for dep in requests:
        if len(dep) != 1:
            raise ValueError(f"apk add takes no alternatives ({dep})")
        tokens.append(format_relation(dep[0].positive, negated=dep[0].negated))
    return tokens


def parse_apk_output(output: str, returncode: int) -> Outcome:
    """The Outcome of one `apk add --simulate` run from its combined output and exit code."""
    if returncode != 0:
        return Outcome(None, output)
    return Outcome(frozenset(f"{name}={version}" for name, version in _INSTALLING.findall(output)))


def parsed_back(text: str) -> list[Package]:
    """The universe as our own APKINDEX parser reads the generated text."""
    return parse_apkindex(text, "file:///repo", ARCH, "reference")


def our_outcome(universe: Sequence[Package], requests: Sequence[Dependency],
                scheme: VersionScheme) -> Outcome:
    """What our resolver installs (or its ResolveError message)."""
    try:
        resolution = resolve(list(universe), list(requests), scheme)
    except ResolveError as exc:
        return Outcome(None, exc.message)
    return Outcome(frozenset(f"{p.name}={p.version}" for p in resolution.packages))


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


class RealApk:
    """One extracted minirootfs whose apk judges scenarios; `solve` is cheap, reuse the object.

    Contract: `solve_texts([(index_text, tokens), ...])` returns one Outcome per pair, in order,
    each from its own apk process over its own repository, all on the same empty target."""

    def __init__(self, root: Path) -> None:
        self.root = root
        target = root / "target"
        if not (target / "lib/apk/db/installed").exists():
            target.mkdir(parents=True, exist_ok=True)
            chroot(root, f"{_APK} --initdb add")
            (target / "etc/apk/repositories").write_text("")

    @classmethod
    def extract(cls, dest: Path) -> RealApk:
        """Unpack the 3.16.9 minirootfs into `dest` and initialise its empty target."""
        return cls(extract_minirootfs(MINIROOTFS_NAME, dest))

    def solve_texts(self, scenarios: Sequence[tuple[str, Sequence[str]]]) -> list[Outcome]:
        """Run apk once per (APKINDEX text, `apk add` tokens); see the class contract."""
        work = self.root / "ref"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        lines = []
        for n, (text, tokens) in enumerate(scenarios):
            (work / str(n) / ARCH).mkdir(parents=True)
            (work / str(n) / ARCH / "APKINDEX.tar.gz").write_bytes(index_tarball(text))
            args = " ".join(_quote(t) for t in tokens)
            lines.append(f"{_APK} --repository /ref/{n} add --simulate {args} >/ref/{n}/out 2>&1;"
                         f" echo $? >/ref/{n}/rc")
        (work / "run.sh").write_text("\n".join(lines) + "\n")
        chroot(self.root, "/bin/sh /ref/run.sh")
        outcomes = []
        for n in range(len(scenarios)):
            output = (work / str(n) / "out").read_text()
            outcomes.append(parse_apk_output(output, int((work / str(n) / "rc").read_text())))
        return outcomes

    def solve(self, text: str, tokens: Sequence[str]) -> Outcome:
        """One scenario (see solve_texts)."""
        return self.solve_texts([(text, tokens)])[0]

    def judge(self, scenarios: Sequence[Scenario]) -> list[Outcome]:
        """The real apk's Outcome for each Scenario (universe native arch: x86_64)."""
        return self.solve_texts([(apkindex_text(s.universe), request_tokens(s.requests))
                                 for s in scenarios])


def relation_word(relation: Relation) -> str:
    """A relation as apk spells it (for messages)."""
    return format_relation(relation.positive, negated=relation.negated)
