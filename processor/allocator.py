"""The C allocator while one file is scored: freed arrays are reused, not handed back to the OS and faulted in again.

glibc gives every allocation above 32 MB (a column of a 5M-row log is 40 MB) its own ``mmap`` and unmaps it on
free, so each of the hundreds of such arrays a score makes is faulted in page by page again: on a 5M-row CSV that
was a million page faults and a third of the process's CPU time in the kernel (10 of 32 s). Inside
:func:`reuse_freed_memory` big blocks come from the heap and freed ones stay there for the next array; on leaving,
the defaults come back and the free memory is returned (``malloc_trim``), so a long-lived service worker shrinks
back after a big job. Elsewhere than glibc (Windows, macOS, musl) it does nothing. Standard library only.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from contextlib import contextmanager

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's mallopt parameters (malloc.h)
#: inside: no mmap'd blocks, free memory at the heap's top kept up to 2 GB, the heap grown 64 MB at a time
_REUSE = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 64 << 20}
#: glibc's defaults (malloc.c: DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD, DEFAULT_TOP_PAD)
_DEFAULTS = {_M_MMAP_MAX: 65536, _M_TRIM_THRESHOLD: 128 * 1024, _M_TOP_PAD: 0}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # musl and other C libraries
        return None


_lock = threading.Lock()
_inside = 0  # how many reuse_freed_memory() blocks are open in this process (nested, or on several threads)


@contextmanager
def reuse_freed_memory():
    """Inside: big blocks from the heap, freed ones kept for reuse (glibc only; see the module docstring).
    Blocks may nest or be open on several threads: the settings hold until the last one closes.

    >>> with reuse_freed_memory():
    ...     len(bytearray(50 << 20))
    52428800
    """
    global _inside
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:  # the settings are the process's: set by the first block in, restored by the last one out
        _inside += 1
        if _inside == 1:
            for option, value in _REUSE.items():
                libc.mallopt(option, value)
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                for option, value in _DEFAULTS.items():
                    libc.mallopt(option, value)
                libc.malloc_trim(0)
