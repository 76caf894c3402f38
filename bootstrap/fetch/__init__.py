"""The fetcher: the only package that touches the network or reads mirrors (see fetcher.py
for the contracts: digests checked while streaming, an atomic shared cache, retries)."""
from bootstrap.fetch.fetcher import Fetcher, FetchItem
from bootstrap.fetch.verify import default_cache_dir

__all__ = ["FetchItem", "Fetcher", "default_cache_dir"]
