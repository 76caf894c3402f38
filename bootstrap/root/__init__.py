"""The root handle (`Root`) and the confined walk it shares with the unpacker (`Confined`):
every path inside the target tree resolved as a chrooted process would, never out of it."""
from bootstrap.root.confine import MAX_HOPS, Confined, MissingParent, NotADirectory
from bootstrap.root.handle import Root

__all__ = ["MAX_HOPS", "Confined", "MissingParent", "NotADirectory", "Root"]
