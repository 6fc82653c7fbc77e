"""Freed heap back to the OS (glibc's malloc_trim): one job, no edge imports, so a leaf may call it.

Python frees objects into its allocator, which keeps the pages: after a burst (a flood of requests, a table of
Home Assistant's templates decoded once from ~170 KB of JSON) RSS stays at the high-water mark, which on a 512 MB
board with MemoryMax= counts against the unit until the next restart.
"""

from __future__ import annotations

from typing import Any

__all__ = ["give_back_memory"]


def give_back_memory() -> bool:
    """Return freed heap to the OS after a burst (glibc's malloc_trim); False where there is none.

    After a flood the allocator keeps the pages it grew into (RSS stayed 70 MB over its idle
    level, measured with tests/flood.py), which on a 512 MB board with MemoryMax= counts against
    the unit until the next restart. Called by the service once a backlog drained, and by the home
    tables' decoders (edge/home_templates.py, edge/home_wildcards.py) after a language's first
    decoding: a few milliseconds, once each."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False  # not glibc (musl, macOS): nothing to do
    if _libc is False:
        return False
    _libc.malloc_trim(0)
    return True


_libc: Any = None
