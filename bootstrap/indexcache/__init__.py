"""Reading real-size indexes cheaply, for every family: packages whose costly fields load on
first use (lazy.py), and the cache of what a fast pass over an index found, kept by the
index's signed digest (store.py). Names no family: each adapter says what it defers and what
its entries hold."""
from bootstrap.indexcache.lazy import Detail, lazy_class, loaded, make
from bootstrap.indexcache.relations import RelationTable, Row, relations, row_of
from bootstrap.indexcache.store import Entry, EntryWriter, IndexCache, new_entry

__all__ = ["Detail", "Entry", "EntryWriter", "IndexCache", "RelationTable", "Row", "lazy_class", "loaded", "make",
           "new_entry", "relations", "row_of"]
