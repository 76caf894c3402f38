"""Where an SBOM goes and how it is written.

Contracts:
- `sbom_path(output, fmt)`: beside the output, named after it without its tar suffix
  (`rootfs.tar.gz`, `.tar`, `.tar.xz`, `.tgz`...: `rootfs.spdx.json`; CycloneDX:
  `rootfs.cdx.json`); a directory output `DIR` or `DIR/` (a tree, an OCI layout) gives
  `DIR.spdx.json` beside it. Any other name keeps its suffix (`x.img` → `x.img.spdx.json`).
- `write_sbom(path, doc, fmt)`: renders `doc` in `fmt` (FORMATS) and writes it atomically (a
  temporary file beside it, renamed over): a failure leaves nothing new at `path` and raises
  PackError with a one-line message. An unknown format is a UsageError.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bootstrap.errors import PackError, UsageError
from bootstrap.sbom.model import FORMATS, SbomDocument

SUFFIXES = {"spdx": ".spdx.json", "cyclonedx": ".cdx.json"}
# The output names whose suffix the SBOM's replaces, longest first.
_OUTPUT_SUFFIXES = (".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tgz", ".txz", ".tzst", ".tbz2", ".tar")


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown SBOM format {fmt!r}", hint=f"known formats: {', '.join(FORMATS)}")


def sbom_path(output: Path, fmt: str) -> Path:
    """The SBOM's path for build output `output` (see the module's contract)."""
    _check(fmt)
    output = Path(output)
    stem = output.name
    for suffix in _OUTPUT_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return output.with_name(stem + SUFFIXES[fmt])


def render(doc: SbomDocument, fmt: str) -> str:
    """`doc` as text in `fmt`."""
    _check(fmt)
    if fmt == "cyclonedx":
        from bootstrap.sbom import cyclonedx

        return cyclonedx.render(doc)
    from bootstrap.sbom import spdx

    return spdx.render(doc)


def write_sbom(path: Path, doc: SbomDocument, fmt: str = "spdx") -> Path:
    """Write `doc` in `fmt` at `path` atomically; returns `path` (see the module's contract)."""
    path = Path(path)
    data = render(doc, fmt).encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        raise PackError(f"cannot write the SBOM {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PackError(f"cannot write the SBOM {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
