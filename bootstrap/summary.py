"""What the command line says about a finished build, and the data it gives scripts.

Contracts:
- `describe_output(path)`: the kind, size and digest of an output: a file's sha256, an OCI
  layout's manifest digest (its index.json's first entry), a directory's size alone.
- `summary_line(...)`: one line: where it went, packages installed, size in MiB, the digest,
  the total time, the mode, the SBOM and lock when there are any. One unit system (MiB).
- `package_record(pkg)` / `plan_json(...)` / `build_json(...)`: the JSON of `--json`:
  each package's name, version, arch, URL, size and digests; for a build the outputs and their
  digests too. Keys sorted; the same build gives the same document.
- `print_uris(packages)`: apt-get's `--print-uris` lines: `'URL' FILENAME SIZE ALGO:HEX`.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.buildplan import BuildFacts
from bootstrap.report import mib
from bootstrap.types import Package


@dataclass(frozen=True)
class OutputInfo:
    """One output: its path, kind (file, directory, oci-layout), size in bytes, digest ("" for none)."""

    path: str
    kind: str
    size: int
    digest: str = ""

    def json(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "size": self.size, "digest": self.digest}


def describe_output(path: Path) -> OutputInfo:
    """See the module docstring."""
    if path.is_dir():
        size = sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())
        index = path / "index.json"
        if index.is_file() and (path / "oci-layout").is_file():
            manifests = json.loads(index.read_text()).get("manifests") or [{}]
            return OutputInfo(str(path), "oci-layout", size, str(manifests[0].get("digest", "")))
        return OutputInfo(str(path), "directory", size)
    if not path.is_file():  # a device or FIFO written into: nothing to measure
        return OutputInfo(str(path), "special", 0)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return OutputInfo(str(path), "file", path.stat().st_size, f"sha256:{digest}")


def summary_line(where: str, info: OutputInfo | None, facts: BuildFacts, seconds: float,
                 extra: Mapping[str, str] | None = None) -> str:
    """See the module docstring. `extra` adds `name: value` parts (the lock, a pushed image)."""
    parts = [f"wrote {where}", f"{len(facts.packages)} packages"]
    if info is not None and info.size:
        parts.append(mib(info.size))
    if info is not None and info.digest:
        parts.append(info.digest)
    parts.append(f"in {seconds:.1f}s")
    if facts.mode:
        parts.append(f"mode {facts.mode}")
    line = ", ".join(parts)
    more = ([f"sbom {facts.sbom}"] if facts.sbom is not None else []) + \
        [f"{k} {v}" for k, v in (extra or {}).items()]
    return line + ("; " + "; ".join(more) if more else "")


def package_record(pkg: Package) -> dict[str, object]:
    """One package as --json gives it."""
    return {"name": pkg.name, "version": pkg.version, "arch": pkg.arch, "url": pkg.location, "size": pkg.size,
            "repository": pkg.repo, "checksums": {c.algo: c.hexdigest for c in pkg.checksums}}


def plan_json(profile: str, arch: str, variant: str, packages: Iterable[Package]) -> str:
    """`resolve --json` and `build --dry-run --json`: what would be installed."""
    doc = {"profile": profile, "arch": arch, "variant": variant,
           "packages": [package_record(p) for p in sorted(packages, key=lambda p: (p.name, p.arch))]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def build_json(profile: str, outputs: Sequence[OutputInfo], facts: BuildFacts, seconds: float,
               extra: Mapping[str, str] | None = None) -> str:
    """`build --json`: the packages installed, the outputs with their digests, the mode, the
    SBOM (and the lock or pushed reference in `extra`)."""
    doc: dict[str, object] = {
        "profile": profile, "mode": facts.mode, "epoch": facts.epoch, "seconds": round(seconds, 3),
        "packages": [package_record(p) for p in sorted(facts.packages, key=lambda p: (p.name, p.arch))],
        "outputs": [o.json() for o in outputs], "sbom": str(facts.sbom) if facts.sbom is not None else None,
        **(extra or {})}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def print_uris(packages: Iterable[Package]) -> list[str]:
    """apt-get --print-uris lines for `packages`, sorted by name: the strongest digest given."""
    lines = []
    for pkg in sorted(packages, key=lambda p: (p.name, p.arch)):
        best = max(pkg.checksums, key=lambda c: _STRENGTH.get(c.algo, 0), default=None)
        digest = f"{best.algo.upper()}:{best.hexdigest}" if best is not None else "-"
        lines.append(f"'{pkg.location}' {pkg.filename} {pkg.size} {digest}")
    return lines


_STRENGTH = {"md5": 1, "sha1": 2, "apk-q1": 2, "sha224": 3, "sha256": 4, "sha384": 5, "sha512": 6}


def default_output(profile: str, fmt: str) -> str:
    """Where a build without -o writes: `./PROFILE.tar.gz` (the profile as typed), or for an
    image `./PROFILE.oci/` (a layout) or `./PROFILE.docker.tar`."""
    name = os.path.basename(profile) or "rootfs"
    return {"oci": f"./{name}.oci", "docker": f"./{name}.docker.tar", "dir": f"./{name}/"}.get(fmt, f"./{name}.tar.gz")
