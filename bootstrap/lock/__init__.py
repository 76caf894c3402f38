"""Lock files: one resolution pinned (model), its text (fileformat: JSON, one package per
line, atomic writes), the Package records in it (codec), and what changed between two locks
(changes). Pure but for reading and writing the file itself; the commands that make and use
locks are bootstrap.locked's."""
from bootstrap.lock.fileformat import dumps, loads, read_lock, write_lock
from bootstrap.lock.model import FORMAT_VERSION, Lock, LockedRepo, LockedSeed, LockOptions

__all__ = ["FORMAT_VERSION", "Lock", "LockOptions", "LockedRepo", "LockedSeed", "dumps", "loads",
           "read_lock", "write_lock"]
