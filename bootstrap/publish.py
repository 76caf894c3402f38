"""`rootfs-bootstrap refresh --from REGISTRY/REPO:TAG`: publish on change with no shared disk
between CI runners. The published image carries its lock (bootstrap.imagebuild: the
`org.rootfs-bootstrap.lock.digest` annotation of each platform's manifest names a blob holding
it); refresh reads it back, resolves each platform again, and only when one changed builds
every platform and pushes.

Contract of `refresh_from(ref, build, report)`:
- Every platform of the image (one image, or each entry of an image index) must carry a lock;
  its image options (command, entrypoint, environment, working directory, user, labels,
  source, layer budget, and the build mode unless --mode is given) are read back from the
  published config and annotations, and the command line's override them.
- Nothing changed on any platform → `Refreshed(changed=False)`: nothing built, nothing pushed.
- Something changed → every platform is built (a changed one from its new lock, the others
  from their published lock, so their images come out as they were published: the registry
  already has their blobs) and pushed to `push` (default: the reference read); the change
  report of each changed platform is returned and written where asked.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.buildplan import ImageOptions
from bootstrap.errors import LockError
from bootstrap.image import DEFAULT_PATH
from bootstrap.imagebuild import LAYERS_ANNOTATION, LOCK_ANNOTATION, MODE_ANNOTATION, build_image
from bootstrap.lock import Lock, loads
from bootstrap.lock.changes import ChangeReport, report_json, report_markdown
from bootstrap.locked import options_of
from bootstrap.refresh import SOURCE_OVERRIDES, Assessment, Refreshed, assess, write_reports
from bootstrap.report import Reporter

if TYPE_CHECKING:
    from bootstrap.registry import Reference

MAX_LOCK = 64 << 20  # a lock of 100,000 packages is ~30 MiB


def refresh_from(ref_text: str, build: dict[str, Any], report: Reporter, *, push: str = "",
                 report_json_path: Path | None = None, report_md_path: Path | None = None) -> Refreshed:
    """See the module docstring. `build` holds the output options (output may be empty,
    cache_dir, jobs, mode, sbom_format, image: the ImageOptions the command line gave)."""
    from bootstrap.registry import RegistryClient, parse_reference, read_blob, read_image

    given: ImageOptions = build.pop("image", ImageOptions())
    ref = parse_reference(ref_text)
    client = RegistryClient(ref.registry, insecure=given.insecure_registry, log=report.debug)
    with report.phase("check"):
        remote = read_image(client, ref)
        locks: dict[str, Lock] = {}
        published: dict[str, Any] = {}
        for manifest in remote.images:
            digest = manifest.json.get("annotations", {}).get(LOCK_ANNOTATION)
            if not digest:
                raise LockError(f"{ref_text} carries no lock ({manifest.digest} has no {LOCK_ANNOTATION})",
                                hint="publish it with `rootfs-bootstrap build ... --push REF` first")
            lock = loads(read_blob(client, ref.repository, digest, MAX_LOCK).decode("utf-8"))
            locks[lock.arch] = lock
            published[lock.arch] = manifest
        first = next(iter(published.values()))
        config = json.loads(read_blob(client, ref.repository, first.json["config"]["digest"], MAX_LOCK))
        notes = first.json.get("annotations", {})
        image = _image_options(config, notes, given, push or ref_text)
        image = replace(image, mount_from=_mount_source(ref, push or ref_text))
        if build.get("mode") in (None, "auto"):  # built as published, unless told otherwise
            build["mode"] = notes.get(MODE_ANNOTATION, "auto")
    overridden = any(build.get(k) for k in SOURCE_OVERRIDES)
    done: dict[str, Assessment] = {}
    for arch, lock in locks.items():
        opts = options_of(lock, **{**build, "fmt": "oci", "image": image})
        done[arch] = assess(lock, opts, report, overridden=overridden)
        report.info(f"{arch}: {done[arch].line}")
    changed = {a: d for a, d in done.items() if d.changed}
    if not changed:
        return Refreshed(False, f"nothing changed in {ref_text} ({', '.join(sorted(locks))})")
    new = {a: (d.new if d.changed and d.new is not None else locks[a]) for a, d in done.items()}
    first_lock = next(iter(new.values()))
    opts = options_of(first_lock, **{**build, "fmt": "oci",
                                     "image": replace(image, platforms=tuple(new))})
    result = build_image(opts, report, new)
    reports = {a: d.changes for a, d in changed.items() if d.changes is not None}
    _write(reports, report_json_path, report_md_path)
    summary = "; ".join(f"{a}: {d.line.removeprefix('changed: ')}" for a, d in sorted(changed.items()))
    only = next(iter(reports.values())) if len(reports) == 1 else None
    return Refreshed(True, f"changed: {summary}; pushed {result.pushed}", only, result.output,
                     markdown=_markdown(reports))


def _image_options(config: Mapping[str, Any], notes: Mapping[str, str], given: ImageOptions,
                   push: str) -> ImageOptions:
    """The published image's options, what the command line gave winning."""
    conf = config.get("config", {})
    env = tuple(e for e in conf.get("Env") or () if e != DEFAULT_PATH)
    published = ImageOptions(
        cmd=tuple(conf.get("Cmd") or ()), entrypoint=tuple(conf.get("Entrypoint") or ()), env=env,
        workdir=conf.get("WorkingDir", ""), user=conf.get("User", ""),
        labels=tuple(sorted((conf.get("Labels") or {}).items())),
        source=notes.get("org.opencontainers.image.source", ""),
        revision=notes.get("org.opencontainers.image.revision", ""),
        layers=int(notes.get(LAYERS_ANNOTATION, "1")))
    default = ImageOptions()
    overrides = {name: getattr(given, name) for name in ("cmd", "entrypoint", "env", "workdir", "user", "labels",
                                                         "tags", "source", "revision", "layers")
                 if getattr(given, name) != getattr(default, name)}
    return replace(published, **overrides, push=push, insecure_registry=given.insecure_registry)


def _mount_source(ref: Reference, push: str) -> str:
    """The repository to mount blobs from when pushing to another one of the same registry."""
    from bootstrap.registry import parse_reference

    target = parse_reference(push)
    same = target.registry == ref.registry and target.repository != ref.repository
    return ref.repository if same else ""


def _markdown(reports: Mapping[str, ChangeReport]) -> str:
    if len(reports) == 1:
        return report_markdown(next(iter(reports.values())))
    return "".join(f"## {arch}\n\n{report_markdown(r)}\n" for arch, r in sorted(reports.items()))


def _write(reports: Mapping[str, ChangeReport], json_path: Path | None, md_path: Path | None) -> None:
    """One platform: its report as `refresh LOCK` writes it; several: a JSON object of each
    platform's report by arch word, and the Markdown reports one after another."""
    if len(reports) == 1:
        write_reports(next(iter(reports.values())), json_path, md_path)
        return
    if json_path is not None:
        doc = {"kind": "rootfs-bootstrap change reports",
               "platforms": {a: json.loads(report_json(r)) for a, r in sorted(reports.items())}}
        json_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if md_path is not None:
        md_path.write_text(_markdown(reports), encoding="utf-8")
