"""A root split into layers by package, as apko's experimental layering does, so a rebuild in
which one package changed sends (and stores) one new layer, not the whole root.

Contract of `split_layers(root, owners, count)`:
- files are grouped by the group (package) that owns them; a path several groups claim
  belongs to the last of them in `owners` (the install order: the last one unpacked is the
  copy on disk);
- groups are ranked by their bytes (apparent sizes of regular files and symlinks, each inode
  once: the same on every file system), largest first, ties by name; each of the `count - 1`
  first has its own layer, and everything else (smaller groups, and what no group owns: what
  maintainer scripts or the tool made, the merged-/usr links) is the last layer, `REST`;
- the layers come largest first, `REST` last: the biggest, least volatile packages are at
  the bottom of the stack;
- every path on disk is in exactly one layer, but directories: a directory is in every layer
  that holds something below it (with the same header: the runtime merges them), and in the
  layer of each group that owns it; the root (b"") is in every layer;
- all paths of one hard-linked inode are in the layer of the first of them in sorted order,
  so no hard link points into another layer;
- an owned path absent from disk (a device node the build could not make, which the packer
  writes from the manifest) is in its owner's layer, with its parent directories;
- `count == 1`: one layer of everything (`ALL`). Same tree and owners, same layers.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.pack.tar import canonical_paths, walk

ALL = "(all)"
REST = "(others)"  # parentheses: no family's package names hold them


@dataclass(frozen=True)
class Layer:
    """One layer: its name (a group's, or ALL/REST) and the root-relative paths it holds, as
    `bootstrap.pack.tar.walk` gives them (bytes, b"" for the root), for write_tar's `only`."""

    name: str
    paths: frozenset[bytes]


def split_layers(root: Path, owners: Sequence[tuple[str, Sequence[str]]], count: int) -> list[Layer]:
    """At most `count` layers of `root`; `owners` is (group name, root-relative paths as the
    manifests say them) in install order. See the module docstring."""
    if count < 1:
        raise ValueError(f"a root splits into at least one layer, not {count}")
    paths = walk(root)
    if count == 1:
        return [Layer(ALL, frozenset(paths))]
    claims = _claims(root, owners)
    stats = {rel: os.lstat(_disk(root, rel)) for rel in paths}
    homes = _homes(paths, stats, claims)
    sizes = _sizes(homes, stats)
    ranked = sorted(sizes, key=lambda group: (-sizes[group], group))[:count - 1]
    own = set(ranked)
    members: dict[str, set[bytes]] = {name: set() for name in [*ranked, REST]}
    for rel in paths[1:]:  # paths[0] is the root, in every layer
        if stat.S_ISDIR(stats[rel].st_mode):
            places = {group if group in own else REST for group in claims.get(rel, ())} or {REST}
        else:
            home = homes[rel]
            places = {home if home is not None and home in own else REST}
        for place in places:
            members[place].add(rel)
    for rel, groups in claims.items():  # owned but not on disk: the packer's device nodes
        if rel not in stats:
            members[groups[-1] if groups[-1] in own else REST].add(rel)
    return [Layer(name, frozenset(with_parents(members[name])))
            for name in [*ranked, REST] if members[name]]


def with_parents(paths: Iterable[bytes]) -> set[bytes]:
    """`paths` and every directory above them, the root (b"") included."""
    found = {b""}
    for rel in paths:
        while rel not in found:
            found.add(rel)
            rel = rel.rpartition(b"/")[0]
    return found


def _disk(root: Path, rel: bytes) -> bytes:
    base = os.fsencode(root)
    return base + b"/" + rel if rel else base


def _claims(root: Path, owners: Sequence[tuple[str, Sequence[str]]]) -> dict[bytes, list[str]]:
    """On-disk path → the groups claiming it, in `owners` order (each once)."""
    named = [(group, [path.removeprefix("./").strip("/") for path in paths]) for group, paths in owners]
    where = canonical_paths(root, sorted({path for _, paths in named for path in paths if path}))
    claims: dict[bytes, list[str]] = {}
    for group, paths in named:
        for path in paths:
            if not path:
                continue  # the root is every layer's
            claimed = claims.setdefault(os.fsencode(where[path]), [])
            if group in claimed:
                claimed.remove(group)
            claimed.append(group)
    return claims


def _homes(paths: list[bytes], stats: dict[bytes, os.stat_result],
           claims: dict[bytes, list[str]]) -> dict[bytes, str | None]:
    """Each non-directory path → its group (None: nobody's); a hard link goes with the first
    path of its inode (`paths` is sorted)."""
    inodes: dict[tuple[int, int], str | None] = {}
    homes: dict[bytes, str | None] = {}
    for rel in paths[1:]:
        st = stats[rel]
        if stat.S_ISDIR(st.st_mode):
            continue
        groups = claims.get(rel)
        home = groups[-1] if groups else None
        if st.st_nlink > 1:
            home = inodes.setdefault((st.st_dev, st.st_ino), home)
        homes[rel] = home
    return homes


def _sizes(homes: dict[bytes, str | None], stats: dict[bytes, os.stat_result]) -> dict[str, int]:
    """Each group that has a non-directory path → its bytes, each inode counted once."""
    sizes: dict[str, int] = {}
    seen: set[tuple[int, int]] = set()
    for rel, home in homes.items():
        if home is None:
            continue
        st = stats[rel]
        inode = (st.st_dev, st.st_ino)
        counted = inode in seen
        seen.add(inode)
        kind = stat.S_IFMT(st.st_mode)
        sizes[home] = sizes.get(home, 0) + (st.st_size if kind in (stat.S_IFREG, stat.S_IFLNK) and not counted else 0)
    return sizes
