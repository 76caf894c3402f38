"""The lock file: JSON, keys sorted, one repository and one package per line, so that a
nightly refresh's change is a readable line diff. Pure text in and out, plus an atomic write.

Layout (format 1):

    {
    "arch": "amd64",
    "family": "apt",
    "format": 1,
    "kind": "rootfs-bootstrap lock",
    "options": {...},
    "packages": [
    {"arch": "amd64", "checksums": {"sha256": "..."}, "name": "bash", ...},
    ...
    ],
    "profile": "debian-bookworm",
    "release": "bookworm",
    "repositories": [
    {"id": "main", "index": {"date": "...", "sha256": "...", "url": "..."}, ...},
    ...
    ],
    "requests": [...],
    "seed": null,
    "vendor": "debian"
    }

A file of another `format` is refused with the version it has (LockError), as is anything that
is not such a document.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bootstrap.errors import LockError
from bootstrap.lock.codec import package_from_json, package_to_json
from bootstrap.lock.model import FORMAT_VERSION, Lock, LockedRepo, LockedSeed, LockOptions
from bootstrap.types import Checksum, IndexStamp

KIND = "rootfs-bootstrap lock"
_LISTS = ("packages", "repositories")  # written one item per line


def dumps(lock: Lock) -> str:
    """The text of `lock` (see the module docstring); the same lock gives the same text."""
    doc = _document(lock)
    lines = ["{"]
    keys = sorted(doc)
    for n, key in enumerate(keys):
        comma = "," if n + 1 < len(keys) else ""
        if key in _LISTS:
            items = [_line(item) for item in doc[key]]
            body = ",\n".join(items)
            lines.append(f'"{key}": [\n{body}\n]{comma}' if items else f'"{key}": []{comma}')
        else:
            lines.append(f'"{key}": {_line(doc[key])}{comma}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _line(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _document(lock: Lock) -> dict[str, Any]:
    packages = sorted(lock.packages, key=lambda p: (p.name, p.arch, p.version, p.repo))
    return {
        "kind": KIND, "format": lock.format, "profile": lock.profile, "family": lock.family,
        "vendor": lock.vendor, "release": lock.release, "arch": lock.arch,
        "options": _options(lock.options), "requests": list(lock.requests),
        "seed": None if lock.seed is None else {
            "url": lock.seed.url, "name": lock.seed.name, "size": lock.seed.size,
            "checksums": {c.algo: c.hexdigest for c in lock.seed.checksums}},
        "repositories": [_repo(r) for r in lock.repositories],
        "packages": [package_to_json(p) for p in packages],
    }


def _options(opts: LockOptions) -> dict[str, Any]:
    out: dict[str, Any] = {
        "variant": opts.variant, "include": list(opts.include), "exclude": list(opts.exclude),
        "buildrequires": list(opts.buildrequires), "defines": list(opts.defines),
        "mirrors": list(opts.mirrors), "keyrings": list(opts.keyrings), "verify": opts.verify}
    # Written only when set: a lock without it (every lock before it existed) means False,
    # and the same build keeps writing the same bytes.
    if opts.keyring_only:
        out["keyring_only"] = True
    return out


def _repo(repo: LockedRepo) -> dict[str, Any]:
    out: dict[str, Any] = {"id": repo.id, "url": repo.url, "present": repo.present, "verify": repo.verify}
    if repo.suite:
        out["suite"] = repo.suite
    if repo.components:
        out["components"] = list(repo.components)
    if repo.index is not None:
        out["index"] = {"url": repo.index.url, "sha256": repo.index.sha256, "date": repo.index.date}
    for key in ("signers", "keyrings", "mirrors"):
        if getattr(repo, key):
            out[key] = list(getattr(repo, key))
    return out


def loads(text: str, source: str = "the lock") -> Lock:
    """The lock `text` holds; LockError (naming `source`) for anything else."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LockError(f"{source} is not a lock file (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise LockError(f"{source} is not a rootfs-bootstrap lock file")
    if doc.get("format") != FORMAT_VERSION:
        raise LockError(f"{source} has lock format {doc.get('format')!r}; this version reads format {FORMAT_VERSION}",
                        hint="write it again with `rootfs-bootstrap lock`")
    try:
        return _lock(doc)
    except LockError as exc:
        raise LockError(f"{source}: {exc.message}", hint=exc.hint) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LockError(f"{source} is malformed ({type(exc).__name__}: {exc})") from None


def _lock(doc: dict[str, Any]) -> Lock:
    o = doc["options"]
    options = LockOptions(str(o["variant"]), _strs(o.get("include")), _strs(o.get("exclude")),
                          _strs(o.get("buildrequires")), _strs(o.get("defines")), _strs(o.get("mirrors")),
                          _strs(o.get("keyrings")), bool(o.get("verify", True)),
                          o.get("keyring_only", False) is True)
    seed = doc.get("seed")
    return Lock(
        profile=str(doc["profile"]), family=str(doc["family"]), vendor=str(doc.get("vendor", "")),
        release=str(doc.get("release", "")), arch=str(doc["arch"]), options=options,
        repositories=tuple(_locked_repo(r) for r in doc["repositories"]),
        packages=tuple(package_from_json(p) for p in doc["packages"]),
        requests=_strs(doc.get("requests")),
        seed=None if seed is None else LockedSeed(str(seed["url"]), _checksums(seed.get("checksums", {})),
                                                   int(seed.get("size", 0)), str(seed.get("name", ""))))


def _locked_repo(r: dict[str, Any]) -> LockedRepo:
    index = r.get("index")
    stamp = None if index is None else IndexStamp(str(index["url"]), str(index["sha256"]), str(index.get("date", "")))
    return LockedRepo(str(r["id"]), str(r["url"]), str(r.get("suite", "")), _strs(r.get("components")),
                      bool(r.get("present", True)), stamp, bool(r.get("verify", True)), _strs(r.get("signers")),
                      _strs(r.get("keyrings")), _strs(r.get("mirrors")))


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _checksums(value: dict[str, str]) -> tuple[Checksum, ...]:
    return tuple(Checksum(str(a), str(h)) for a, h in sorted(value.items()))


def read_lock(path: Path) -> Lock:
    """The lock at `path`; LockError when it cannot be read or is no lock."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"no lock file {path}", hint="write one with `rootfs-bootstrap lock PROFILE -o FILE`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"cannot read the lock file {path}: {exc}") from None
    return loads(text, str(path))


def write_lock(path: Path, lock: Lock) -> Path:
    """Write `lock` at `path` atomically (a temporary file beside it, renamed): a failure
    leaves the old file, if any, untouched."""
    path = Path(path)
    text = dumps(lock)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent or Path("."))
    except OSError as exc:
        raise LockError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
