"""The root handle: every read and write the tool itself does inside the target tree.

The pipeline makes one `Root` per build and hands it to the adapters (apko's injected
filesystem). Paths are root-relative strings (`etc/apt/sources.list`; a leading `/` means the
same), resolved the way a process chrooted into the tree would see them: a symlink that is
already in the tree is followed, but an absolute target restarts at the root and `..` stops at
it, so no path leads out of the root (the walk is the unpacker's, `unpack.Confined`).

Contracts:
- Writes never follow the final component: `write_*` replaces a symlink standing there
  (atomically: a temporary file beside it, then rename), `unlink` removes the link, `chmod`,
  `chown` and `setxattr` act on the link itself (or skip it where Linux cannot).
- Reads follow the final component too, within the root (up to 40 hops, as Linux).
- Missing parents of a write are created 0755 (as tar and dpkg do); modes are set with chmod
  after creation, so the umask never narrows them.
- Failures are OSError as the os module raises them (FileNotFoundError, NotADirectoryError...),
  except a path that names `..` or too many links: UnsafePathError / UnpackError.

Where the kernel has openat2(2) (Linux 5.6+, not refused by seccomp), the parent directory of
every write, and every read, is resolved by the kernel with RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS, and the operation is done relative to that descriptor (mkdirat,
openat, renameat, unlinkat, fchownat, symlinkat...): a symlink swapped in while the tool works
cannot steer a write out of the root. Elsewhere the lstat walk (`Confined`) is used, with the
same results on a tree nobody changes meanwhile. One case takes the walk even with openat2:
creating missing parents through a dangling symlink (`bin -> usr/bin` before usr/bin exists).
"""
from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from bootstrap.errors import UnpackError
from bootstrap.root.resolve import Resolver, _is_symlink


class Root(Resolver):
    """The target tree at `path` (a directory on the host), by root-relative path."""

    # -- questions ----------------------------------------------------------------------------

    def lstat(self, rel: str) -> os.stat_result:
        if self._kernel_path(rel):
            with self._slot(rel) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        return os.lstat(self.locate(rel))

    def stat(self, rel: str) -> os.stat_result:
        if self._at:
            fd = self._open_final(rel, os.O_PATH)
            try:
                return os.fstat(fd)
            finally:
                os.close(fd)
        return os.lstat(self.locate(rel, follow=True))

    def _mode(self, rel: str, follow: bool) -> int | None:
        try:
            return (self.stat(rel) if follow else self.lstat(rel)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, rel: str) -> bool:
        """Whether `rel` exists, a symlink counting as what it points to."""
        return self._mode(rel, True) is not None

    def lexists(self, rel: str) -> bool:
        """Whether anything stands at `rel` (a dangling symlink too)."""
        return self._mode(rel, False) is not None

    def is_dir(self, rel: str) -> bool:
        mode = self._mode(rel, True)
        return mode is not None and stat.S_ISDIR(mode)

    def is_file(self, rel: str) -> bool:
        mode = self._mode(rel, True)
        return mode is not None and stat.S_ISREG(mode)

    def is_symlink(self, rel: str) -> bool:
        mode = self._mode(rel, False)
        return mode is not None and stat.S_ISLNK(mode)

    def readlink(self, rel: str) -> str:
        if self._kernel_path(rel):
            with self._slot(rel) as (fd, name):
                return os.readlink(name, dir_fd=fd)
        return os.readlink(self.locate(rel))

    # -- reading ------------------------------------------------------------------------------

    def open_read(self, rel: str) -> BinaryIO:
        """`rel` open for reading (binary); the caller closes it."""
        if self._at:
            fd = self._open_final(rel, os.O_RDONLY)
        else:
            fd = os.open(self.locate(rel, follow=True), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        return open(fd, "rb")

    def read_bytes(self, rel: str) -> bytes:
        with self.open_read(rel) as handle:
            return handle.read()

    def read_text(self, rel: str, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes(rel).decode(encoding, errors)

    def read_text_or(self, rel: str, default: str = "", encoding: str = "utf-8",
                     errors: str = "strict") -> str:
        """read_text, or `default` when `rel` (or a directory on its way) does not exist."""
        try:
            return self.read_text(rel, encoding, errors)
        except (FileNotFoundError, NotADirectoryError):
            return default

    def listdir(self, rel: str = "") -> list[str]:
        """The names in directory `rel`, sorted (a symlinked directory is followed inside)."""
        if self._at:
            fd = self._open_final(rel, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return sorted(os.listdir(fd))
            finally:
                os.close(fd)
        return sorted(os.listdir(self.locate(rel, follow=True)))

    def glob(self, pattern: str) -> list[str]:
        """Root-relative paths matching `pattern`, sorted; wildcards in the last component only
        (`var/log/*.log`). A missing directory matches nothing."""
        head, _, name = pattern.rstrip("/").rpartition("/")
        if any(c in head for c in "*?["):
            raise ValueError(f"glob {pattern!r}: wildcards only in the last component")
        try:
            names = self.listdir(head)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [f"{head}/{n}" if head else n for n in names if fnmatch.fnmatchcase(n, name)]

    def walk(self, rel: str = "") -> Iterator[tuple[str, list[str], list[str]]]:
        """(directory, subdirectories, other names) top-down, root-relative; symlinks to
        directories are listed as names and never entered."""
        for here, dirs, files in os.walk(self.locate(rel, follow=True)):
            links = [d for d in dirs if os.path.islink(os.path.join(here, d))]
            dirs[:] = sorted(d for d in dirs if d not in links)
            sub = os.path.relpath(here, self._root)
            yield ("" if sub == "." else sub), list(dirs), sorted(files + links)

    # -- writing ------------------------------------------------------------------------------

    def mkdir(self, rel: str, mode: int = 0o755, *, exist_ok: bool = True) -> None:
        """Make directory `rel` (and its missing parents, 0755); `mode` is set on a new one."""
        if self._kernel_path(rel):
            with self._slot(rel, create=True) as (fd, name):
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    if not exist_ok:
                        raise
                    if not self.is_dir(rel):
                        raise self._not_a_dir(rel) from None
                    return
                os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
            return
        path = self.locate(rel, create=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            # A symlink to a directory inside the root will do, as for `mkdir -p`.
            if not exist_ok:
                raise
            if not self.is_dir(rel):
                raise self._not_a_dir(rel) from None
            return
        os.chmod(path, mode)

    def _not_a_dir(self, rel: str) -> UnpackError:
        """Why a directory the tool needs cannot be made: a package put something else there."""
        rel = rel.strip("/")
        if self.is_symlink(rel):
            what = f"a symlink to {self.readlink(rel)!r} that leads to no directory inside the root"
        else:
            what = "a file"
        return UnpackError(f"cannot make directory /{rel}: {what} stands there",
                           hint="a package ships it where a directory belongs; leave that package out")

    def write_bytes(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        """Replace `rel` with `data` atomically (never writing through a symlink there)."""
        def fill(out: BinaryIO) -> None:
            out.write(data)

        self._replace(rel, fill, mode)

    def write_text(self, rel: str, text: str, mode: int = 0o644, encoding: str = "utf-8",
                   errors: str = "strict") -> None:
        self.write_bytes(rel, text.encode(encoding, errors), mode)

    def copy_in(self, source: Path, rel: str, mode: int = 0o644) -> None:
        """A host file's content as `rel` (write_bytes' guarantees), streamed, not read whole."""
        def fill(out: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._replace(rel, fill, mode)

    def _replace(self, rel: str, fill: Callable[[BinaryIO], None], mode: int) -> None:
        """A new file beside `rel`, filled and given `mode`, then renamed over `rel`: readers
        see the old content or the new, and a symlink at `rel` is replaced, not followed."""
        if self._kernel_path(rel):
            with self._slot(rel, create=True) as (dfd, name):
                self._replace_at(dfd, name, fill, mode)
            return
        path = self.locate(rel, create=True)
        tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.rootfs-bootstrap-new"
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with open(fd, "wb") as out:
                fill(out)
                os.fchmod(out.fileno(), mode)
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _replace_at(dfd: int, name: str, fill: Callable[[BinaryIO], None], mode: int) -> None:
        tmp = f".{name}.rootfs-bootstrap-new"
        with suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            with open(fd, "wb") as out:
                fill(out)
                os.fchmod(out.fileno(), mode)
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise

    def touch(self, rel: str, mode: int = 0o644) -> None:
        """Create `rel` empty if nothing stands there."""
        if not self.lexists(rel):
            self.write_bytes(rel, b"", mode)

    def symlink(self, target: str, rel: str, *, replace: bool = False) -> None:
        """A symlink at `rel` pointing to `target` (stored as given: it is resolved by whoever
        reads it, inside the root). With `replace`, what stands there (not a directory) goes."""
        if self._kernel_path(rel):
            with self._slot(rel, create=True) as (fd, name):
                if replace:
                    with suppress(FileNotFoundError):
                        if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                            os.unlink(name, dir_fd=fd)
                os.symlink(target, name, dir_fd=fd)
            return
        path = self.locate(rel, create=True)
        if replace and os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
        os.symlink(target, path)

    def rename(self, source: str, dest: str) -> None:
        """Move `source` to `dest` inside the root, replacing a file there (os.replace)."""
        if self._kernel_path(source) and self._kernel_path(dest):
            with self._slot(source) as (sfd, sname), self._slot(dest, create=True) as (dfd, dname):
                os.replace(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            return
        os.replace(self.locate(source), self.locate(dest, create=True))

    def chmod(self, rel: str, mode: int) -> None:
        """Set the mode of `rel` itself; a symlink has none on Linux and is left alone."""
        if self._kernel_path(rel):
            with self._slot(rel) as (fd, name):
                if _is_symlink(fd, name):
                    return
                try:
                    # glibc: an O_PATH descriptor of `name` itself, then chmod through it.
                    os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
                except (OSError, ValueError) as err:
                    # glibc answers ENOTSUP for a symlink (one swapped in since the check), and
                    # Python reports that as ValueError ("cannot use dir_fd and follow_symlinks").
                    unsupported = isinstance(err, ValueError) or err.errno in (errno.EOPNOTSUPP, errno.ENOTSUP)
                    if not unsupported or not _is_symlink(fd, name):
                        raise
            return
        path = self.locate(rel)
        if not os.path.islink(path):
            os.chmod(path, mode)

    def chown(self, rel: str, uid: int, gid: int) -> None:
        """Set the owner of `rel` itself (a symlink's own, never its target's)."""
        if self._kernel_path(rel):
            with self._slot(rel) as (fd, name):
                os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
            return
        os.lchown(self.locate(rel), uid, gid)

    def mknod(self, rel: str, mode: int, device: int) -> None:
        """A device node or FIFO at `rel` (`mode` holds the file type and permission bits; the
        umask does not narrow them). Nothing standing there is replaced (FileExistsError)."""
        if self._kernel_path(rel):
            with self._slot(rel, create=True) as (fd, name):
                os.mknod(name, mode, device, dir_fd=fd)
                os.chmod(name, stat.S_IMODE(mode), dir_fd=fd, follow_symlinks=False)
            return
        path = self.locate(rel, create=True)
        os.mknod(path, mode, device)
        os.chmod(path, stat.S_IMODE(mode))

    def setxattr(self, rel: str, name: str, value: bytes) -> None:
        if self._kernel_path(rel):
            with self._slot(rel) as (fd, final):
                # No setxattrat before Linux 6.13: the parent's descriptor, by its /proc name,
                # pins the real directory; the final name is not followed.
                os.setxattr(f"/proc/self/fd/{fd}/{final}", name, value, follow_symlinks=False)
            return
        os.setxattr(self.locate(rel), name, value, follow_symlinks=False)

    def unlink(self, rel: str, *, missing_ok: bool = True) -> None:
        """Remove the file or symlink `rel` (never what a symlink points to)."""
        try:
            if self._kernel_path(rel):
                with self._slot(rel) as (fd, name):
                    os.unlink(name, dir_fd=fd)
            else:
                os.unlink(self.locate(rel))
        except (FileNotFoundError, NotADirectoryError):
            if not missing_ok:
                raise

    def remove_tree(self, rel: str, *, missing_ok: bool = True) -> None:
        """Remove `rel` whatever it is; a directory with everything below it (symlinks inside
        are removed, never followed)."""
        if self._kernel_path(rel):
            try:
                with self._slot(rel) as (fd, name):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(name, dir_fd=fd)  # fd-based: never follows a symlink
                    else:
                        os.unlink(name, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                if not missing_ok:
                    raise
            return
        try:
            path = self.locate(rel)
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            if not missing_ok:
                raise
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def clear_dir(self, rel: str) -> None:
        """Empty directory `rel`, keeping it; nothing happens when it is not a real directory
        (a symlink in its place is not followed)."""
        if not self.is_dir(rel) or self.is_symlink(rel):
            return
        for name in self.listdir(rel):
            self.remove_tree(f"{rel}/{name}")
