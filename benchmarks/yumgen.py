#!/usr/bin/env python3
"""A 60,000-package yum repository in createrepo_c's exact layout, for `make bench`.

1. benchmarks/yumsample.py builds six real rpms (rpmbuild, rpmsign) and runs createrepo_c on
   them; their `<package>` elements of primary, filelists and other are kept verbatim.
2. benchmarks/yumuniverse.py generates the other packages (seeded, deterministic); every
   requirement of a real package that no package provides (glibc symbol versions rpm's
   generator wrote, say) is added to the provides of glibc (sonames) or bash (paths).
3. They are written out as createrepo_c writes them (same elements, attributes, indentation;
   packages sorted by name and arch), plus a comps.xml with a `core` group of about 300
   packages (mandatory and default, a few optional). createrepo_c runs again with `-g comps.xml`
   (group + group_gz records), then modifyrepo_c replaces its primary, filelists and other by
   the generated ones (gzip, sha256 checksum, open-checksum, sizes and unique file names, as
   createrepo_c itself writes them), and repomd.xml is signed (repomd.xml.asc) with the key
   that signed the rpms.

Only the six real rpms exist as files; the other packages' locations are never fetched.
By hand: `python benchmarks/yumgen.py DIR [--packages N] [--seed S]` leaves the repository
in DIR/repo (and prints the key's path).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import random
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from yumsample import EPOCH, createrepo, sample_repo, sign_repomd  # noqa: E402
from yumuniverse import Entry, Rpm, Universe  # noqa: E402

from tests.yum.yumrepo import _run  # noqa: E402  (shared test plumbing)

NS = {"c": "http://linux.duke.edu/metadata/common", "rpm": "http://linux.duke.edu/metadata/rpm"}
HEADS = {
    "primary": '<metadata xmlns="http://linux.duke.edu/metadata/common" '
               'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{n}">',
    "filelists": '<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="{n}">',
    "other": '<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="{n}">',
}
TAILS = {"primary": "</metadata>", "filelists": "</filelists>", "other": "</otherdata>"}
REAL_IN_CORE = ["setup", "basesystem", "hello"]


@dataclass(frozen=True)
class YumRepo:
    """The repository (`repo`: Packages/, repodata/), its key, and what it holds."""

    repo: Path
    public_key: Path
    packages: int
    core: int


def _real_elements(repo: Path, kind: str) -> list[tuple[str, str, str]]:
    """(name, arch, element text) of each `<package>` of createrepo_c's `kind` file, verbatim."""
    path = next((repo / "repodata").glob(f"*-{kind}.xml.gz"))
    text = gzip.decompress(path.read_bytes()).decode()
    out = []
    for block in re.findall(r"<package [^>]*>.*?</package>", text, re.DOTALL):
        found = re.search(r'name="([^"]+)" arch="([^"]+)"', block) or \
            re.search(r"<name>([^<]+)</name>\s*<arch>([^<]+)</arch>", block)
        assert found, block[:200]
        out.append((found.group(1), found.group(2), block))
    return out


def _real_needs(repo: Path) -> tuple[set[str], list[tuple[str, str]]]:
    """(names the real packages provide or own, (arch, name) of every requirement of theirs)."""
    path = next((repo / "repodata").glob("*-primary.xml.gz"))
    root = ET.fromstring(gzip.decompress(path.read_bytes()))
    provided: set[str] = set()
    needed: list[tuple[str, str]] = []
    for pkg in root.iterfind("c:package", NS):
        arch = pkg.findtext("c:arch", "", NS)
        provided.update(e.get("name", "") for e in pkg.iterfind("c:format/rpm:provides/rpm:entry", NS))
        provided.update(f.text or "" for f in pkg.iterfind("c:format/c:file", NS))
        needed += [(arch, e.get("name", "")) for e in pkg.iterfind("c:format/rpm:requires/rpm:entry", NS)]
    return provided, needed


def _satisfy(universe: Universe, provided: set[str], needed: list[tuple[str, str]]) -> None:
    """Add each requirement of a real package nobody provides to glibc's or bash's provides."""
    provided = provided | {e.name for p in universe.packages for e in p.provides}
    provided |= {path for p in universe.packages for path, _ in p.files}
    for arch, name in needed:
        if name in provided or name.startswith("rpmlib("):
            continue
        owner = universe.bash if name.startswith("/") else universe.glibc["i686" if arch == "i686" else "x86_64"]
        assert owner is not None
        owner.provides.append(Entry(name))
        provided.add(name)


def _entry(e: Entry) -> str:
    text = f'<rpm:entry name="{escape(e.name)}"'
    if e.flags:
        text += f' flags="{e.flags}" epoch="{e.epoch}" ver="{e.ver}"' + (f' rel="{e.rel}"' if e.rel else "")
    return text + (' pre="1"/>' if e.pre else "/>")


def _deps(tag: str, entries: list[Entry]) -> str:
    if not entries:
        return ""
    return f"    <rpm:{tag}>\n" + "".join(f"      {_entry(e)}\n" for e in entries) + f"    </rpm:{tag}>\n"


def _files(files: Iterable[tuple[str, bool]], indent: str) -> str:
    return "".join(f'{indent}<file type="dir">{p}</file>\n' if d else f"{indent}<file>{p}</file>\n" for p, d in files)


def pkgid(seed: int, p: Rpm) -> str:
    return hashlib.sha256(f"{seed}/{p.name}-{p.epoch}:{p.ver}-{p.rel}.{p.arch}".encode()).hexdigest()


def primary(p: Rpm, sha: str, rng: random.Random) -> str:
    """One `<package>` of primary.xml, as createrepo_c 0.17 writes it."""
    size = int(rng.lognormvariate(11, 1.5)) + 2000
    header = 4504 + rng.randint(1500, 60000)
    built = EPOCH - rng.randint(0, 86400 * 300)
    return (f'<package type="rpm">\n  <name>{p.name}</name>\n  <arch>{p.arch}</arch>\n'
            f'  <version epoch="{p.epoch}" ver="{p.ver}" rel="{p.rel}"/>\n'
            f'  <checksum type="sha256" pkgid="YES">{sha}</checksum>\n  <summary>{escape(p.summary)}</summary>\n'
            f"  <description>{escape(p.summary)}, generated for the benchmark.</description>\n"
            f"  <packager>Fedora Project</packager>\n  <url>https://example.invalid/{p.name}</url>\n"
            f'  <time file="{EPOCH}" build="{built}"/>\n'
            f'  <size package="{size}" installed="{size * 3}" archive="{size * 3 + 1024}"/>\n'
            f'  <location href="Packages/{p.name[0]}/{p.name}-{p.ver}-{p.rel}.{p.arch}.rpm"/>\n'
            f"  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:vendor>Fedora Project</rpm:vendor>\n"
            f"    <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>buildvm-x86-01.bench.invalid</rpm:buildhost>\n"
            f"    <rpm:sourcerpm>{p.source}</rpm:sourcerpm>\n"
            f'    <rpm:header-range start="4504" end="{header}"/>\n'
            + _deps("provides", sorted(p.provides)) + _deps("requires", p.requires)
            + _deps("conflicts", p.conflicts) + _deps("obsoletes", p.obsoletes)
            + _files(p.files, "    ") + "  </format>\n</package>")


def filelists(p: Rpm, sha: str) -> str:
    files = sorted(p.files + [(f, False) for f in p.more_files])
    return (f'<package pkgid="{sha}" name="{p.name}" arch="{p.arch}">\n'
            f'  <version epoch="{p.epoch}" ver="{p.ver}" rel="{p.rel}"/>\n' + _files(files, "  ") + "</package>")


def other(p: Rpm, sha: str) -> str:
    return (f'<package pkgid="{sha}" name="{p.name}" arch="{p.arch}">\n'
            f'  <version epoch="{p.epoch}" ver="{p.ver}" rel="{p.rel}"/>\n</package>')


def write_metadata(out: Path, universe: Universe, real: Path, seed: int) -> int:
    """primary.xml, filelists.xml and other.xml in `out`; returns the package count."""
    rng = random.Random(seed + 1)
    made = {(p.name, p.arch): p for p in universe.packages}
    shas = {key: pkgid(seed, p) for key, p in made.items()}
    texts = {"primary": {k: primary(p, shas[k], rng) for k, p in made.items()},
             "filelists": {k: filelists(p, shas[k]) for k, p in made.items()},
             "other": {k: other(p, shas[k]) for k, p in made.items()}}
    for kind, blocks in texts.items():
        blocks.update({(name, arch): text for name, arch, text in _real_elements(real, kind)})
        body = "\n".join(blocks[k] for k in sorted(blocks))
        (out / f"{kind}.xml").write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                                         + HEADS[kind].format(n=len(blocks)) + "\n" + body + "\n" + TAILS[kind])
    return len(texts["primary"])


def comps(mandatory: list[str], default: list[str], optional: list[str]) -> str:
    """comps.xml with the `core` group, as Fedora's comps spells it."""
    reqs = [(n, kind) for kind, names in (("mandatory", mandatory), ("default", default), ("optional", optional))
            for n in names]
    body = "".join(f'      <packagereq type="{t}">{escape(n)}</packagereq>\n' for n, t in reqs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">\n<comps>\n'
            "  <group>\n    <id>core</id>\n    <name>Core</name>\n"
            "    <description>Smallest possible installation</description>\n"
            "    <default>false</default>\n    <uservisible>false</uservisible>\n"
            f"    <packagelist>\n{body}    </packagelist>\n  </group>\n</comps>\n")


def build_yum_repo(work: Path, packages: int = 60_000, seed: int = 11, core_size: int = 300) -> YumRepo:
    """The whole repository in `work`/repo (see the module's docstring)."""
    sample = sample_repo(work)
    provided, needed = _real_needs(sample.repo)
    universe = Universe(seed, {name for name, _, _ in _real_elements(sample.repo, "primary")})
    universe.build(packages - len(sample.rpms))
    _satisfy(universe, provided, needed)
    mandatory, default = universe.core(core_size, REAL_IN_CORE)
    taken = set(mandatory) | set(default)
    optional = sorted(random.Random(seed).sample([p.name for p in universe.packages[:3000] if p.name not in taken], 20))
    stage = work / "stage"
    stage.mkdir()
    (stage / "comps.xml").write_text(comps(mandatory, default, optional))
    createrepo(sample.repo, stage / "comps.xml")
    count = write_metadata(stage, universe, sample.repo, seed)
    for kind in ("primary", "filelists", "other"):
        _run(["modifyrepo_c", "--mdtype", kind, "--compress-type", "gz", str(stage / f"{kind}.xml"),
              str(sample.repo / "repodata")])
    sign_repomd(sample.repo, sample.gnupghome, sample.fingerprint)
    return YumRepo(sample.repo, sample.public_key, count, len(mandatory) + len(default))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="an empty or absent directory")
    parser.add_argument("--packages", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    made = build_yum_repo(args.dir, args.packages, args.seed)
    print(f"{made.repo}: {made.packages} packages, core group of {made.core}; key {made.public_key}")


if __name__ == "__main__":
    main()
