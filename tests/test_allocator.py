"""processor.allocator: while any reuse_freed_memory() block is open, big arrays come from the heap."""

from __future__ import annotations

import ctypes
import threading

import pytest

from processor import allocator


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def _mmapped_while_holding(size: int = 50 << 20) -> int:
    """Bytes glibc has in mmap'd blocks while a ``size``-byte array is alive, minus those before it."""
    libc = allocator._glibc()
    libc.mallinfo2.restype = _Mallinfo2
    before = libc.mallinfo2().hblkhd
    block = bytearray(size)
    during = libc.mallinfo2().hblkhd
    del block
    return during - before


needs_glibc = pytest.mark.skipif(
    allocator._glibc() is None or not hasattr(allocator._glibc(), "mallinfo2"), reason="glibc ≥ 2.33 only"
)


@needs_glibc
def test_a_big_array_is_mmapped_outside_and_from_the_heap_inside_until_the_last_block_closes():
    assert _mmapped_while_holding() >= 50 << 20
    with allocator.reuse_freed_memory():
        with allocator.reuse_freed_memory():  # nested, as a scorer inside a service worker's block
            assert _mmapped_while_holding() == 0
        assert _mmapped_while_holding() == 0, "the inner block restored glibc's defaults under the outer one"
    assert _mmapped_while_holding() >= 50 << 20


@needs_glibc
def test_blocks_open_on_two_threads_keep_the_setting_until_both_have_closed():
    first_in, second_done = threading.Event(), threading.Event()

    def other():
        with allocator.reuse_freed_memory():
            first_in.set()
            second_done.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    first_in.wait(10)
    with allocator.reuse_freed_memory():
        pass  # this thread's block closes while the other's is still open
    assert _mmapped_while_holding() == 0
    second_done.set()
    thread.join(10)
    assert _mmapped_while_holding() >= 50 << 20
