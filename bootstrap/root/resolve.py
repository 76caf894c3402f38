"""How the root handle finds a path inside the tree: the kernel's openat2 (RESOLVE_IN_ROOT)
where it works, the confined lstat walk elsewhere. `Resolver` is the base of `Root`; it
holds the tree's host path and turns root-relative paths into descriptors or host paths,
never leading out of the root (handle.py states the contracts)."""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootstrap.errors import UnpackError, UnsafePathError
from bootstrap.root import openat2
from bootstrap.root.confine import MAX_HOPS, Confined, MissingParent, NotADirectory

_WHO = "rootfs-bootstrap"


def _parts(rel: str) -> list[str]:
    """`rel` as components; `..` is refused: a caller names places, it does not climb."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"path {rel!r} inside the root names '..'",
                              hint="this is a bug in rootfs-bootstrap; please report it")
    return parts


def _kernel(top: int, path: str, flags: int, rel: str) -> int:
    """openat2 inside the root at `top`; a symlink loop is the walk's UnpackError."""
    try:
        return openat2.openat2(top, path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnpackError(f"{_WHO}: {rel!r}: too many levels of symbolic links") from None
        if err.errno == errno.EXDEV:  # a magic link (/proc/self/root...) on the way
            raise UnsafePathError(f"{_WHO}: {rel!r} leads through a magic link",
                                  hint="nothing outside the root was touched") from None
        raise type(err)(err.errno, err.strerror, rel) from None


def _is_symlink(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


class Resolver:
    """The tree at `path` (a directory on the host), and the resolution of paths inside it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._root = os.fspath(self.path)
        # Fixed per handle, so one Root never mixes the two ways.
        self._at = openat2.available()

    def __repr__(self) -> str:
        return f"Root({self._root!r})"

    # -- resolution ---------------------------------------------------------------------------

    def _parent(self, parts: list[str], rel: str, create: bool) -> list[str]:
        """The real components of the parent directory of `parts`."""
        confined = Confined(self.path, "", set(), who=_WHO)  # fresh: nothing remembered goes stale
        try:
            return confined.resolve_dir(parts[:-1], rel, create=create)
        except MissingParent:
            raise FileNotFoundError(errno.ENOENT, "no such directory in the root", rel) from None
        except NotADirectory:
            raise NotADirectoryError(errno.ENOTDIR, "not a directory in the root", rel) from None

    def locate(self, rel: str, *, follow: bool = False, create: bool = False) -> str:
        """The host path of `rel`: parents resolved inside the root (created when `create`),
        the final component followed (inside the root) only when `follow`."""
        parts = _parts(rel)
        for _ in range(MAX_HOPS):
            if not parts:
                return self._root
            real = self._parent(parts, rel, create)
            here = "/".join([self._root, *real, parts[-1]])
            if not follow or not os.path.islink(here):
                return here
            target = os.readlink(here)
            base = [] if target.startswith("/") else real
            parts = [p for p in [*base, *target.split("/")] if p not in ("", ".")]
            while ".." in parts:  # `..` stops at the root, as in a chroot
                i = parts.index("..")
                parts = parts[:max(i - 1, 0)] + parts[i + 1:]
        raise UnpackError(f"{_WHO}: {rel!r}: too many levels of symbolic links")

    # -- resolution by the kernel (openat2) ---------------------------------------------------

    def _kernel_path(self, rel: str) -> bool:
        """Whether `rel` goes through openat2 (the root itself keeps its host path)."""
        return self._at and bool(_parts(rel))

    @contextmanager
    def _dir_fd(self, parts: list[str], rel: str, create: bool) -> Iterator[int]:
        """A descriptor (O_PATH) of the real directory `parts`, resolved by the kernel inside
        the root; missing directories are made (0755) when `create`."""
        top = os.open(self._root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = self._open_dir(top, parts, rel, create)
        finally:
            os.close(top)
        try:
            yield fd
        finally:
            os.close(fd)

    def _open_dir(self, top: int, parts: list[str], rel: str, create: bool) -> int:
        flags = os.O_PATH | os.O_DIRECTORY
        try:
            return _kernel(top, "/".join(parts), flags, rel)
        except FileNotFoundError:
            if not create:
                raise
        # Make what is missing, one component at a time, each in its parent's descriptor.
        fd = os.dup(top)
        try:
            for i, comp in enumerate(parts):
                try:
                    nxt = _kernel(top, "/".join(parts[: i + 1]), flags, rel)
                except FileNotFoundError:
                    try:
                        os.mkdir(comp, 0o755, dir_fd=fd)
                    except FileExistsError:
                        # A dangling symlink: follow it as the walk does (creating its target).
                        self._parent(parts + [""], rel, True)
                        return _kernel(top, "/".join(parts), flags, rel)
                    nxt = _kernel(top, "/".join(parts[: i + 1]), flags, rel)
                os.close(fd)
                fd = nxt
            return os.dup(fd)
        finally:
            os.close(fd)

    @contextmanager
    def _slot(self, rel: str, create: bool = False) -> Iterator[tuple[int, str]]:
        """(descriptor of the real parent directory, final name) of `rel`: the final component
        is not resolved, so operations on it never follow a symlink standing there."""
        parts = _parts(rel)
        if not parts:
            raise IsADirectoryError(errno.EISDIR, "the root itself", rel or "/")
        with self._dir_fd(parts[:-1], rel, create) as fd:
            yield fd, parts[-1]

    def _open_final(self, rel: str, flags: int) -> int:
        """`rel` opened with `flags`, the final component followed inside the root."""
        top = os.open(self._root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return _kernel(top, "/".join(_parts(rel)), flags, rel)
        finally:
            os.close(top)
