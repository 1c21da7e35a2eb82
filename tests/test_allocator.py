"""processor.allocator: while any reuse_freed_memory() block is open, big arrays come from the heap.

Each check runs in a fresh interpreter: whether a 50 MB array is mmap'd also depends on the heap's
history (a big free chunk left in a long-lived process, such as a pytest worker, serves it from the
heap), so only a new process has a known starting point.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from processor import allocator

PROBE = """
import ctypes, json, threading
from processor import allocator

class Mallinfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]

libc = allocator._glibc()
libc.mallinfo2.restype = Mallinfo2

def mmapped():  # bytes in mmap'd blocks while a 50 MB array is alive, beyond those before it
    before = libc.mallinfo2().hblkhd
    block = bytearray(50 << 20)
    during = libc.mallinfo2().hblkhd
    del block
    return (during - before) >= 50 << 20

seen = {"before": mmapped()}
if CASE == "nested":
    with allocator.reuse_freed_memory():
        with allocator.reuse_freed_memory():  # nested, as a scorer inside a service worker's block
            seen["inner"] = mmapped()
        seen["outer after inner closed"] = mmapped()
else:
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
    seen["other thread still inside"] = mmapped()
    second_done.set()
    thread.join(10)
seen["after"] = mmapped()
print(json.dumps(seen))
"""

needs_glibc = pytest.mark.skipif(
    allocator._glibc() is None or not hasattr(allocator._glibc(), "mallinfo2"), reason="glibc ≥ 2.33 only"
)


def _probe(case: str) -> dict:
    ran = subprocess.run(
        [sys.executable, "-c", f"CASE = {case!r}\n" + PROBE], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@needs_glibc
def test_a_big_array_is_mmapped_outside_and_from_the_heap_inside_until_the_last_block_closes():
    assert _probe("nested") == {"before": True, "inner": False, "outer after inner closed": False, "after": True}


@needs_glibc
def test_blocks_open_on_two_threads_keep_the_setting_until_both_have_closed():
    assert _probe("threads") == {"before": True, "other thread still inside": False, "after": True}
