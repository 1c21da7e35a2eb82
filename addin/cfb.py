"""A minimal writer of Compound File Binary files ([MS-CFB] version 3, 512-byte sectors).

olefile (and oletools) can only read compound files, so the VBA project container is written
here. Deterministic by construction: entries are laid out in a fixed order, every time stamp
and CLSID is zero, unused space is zero-filled. Streams under 4,096 bytes live in the mini
stream (64-byte mini sectors), as the spec requires; no DIFAT sectors are needed below ~7 MB.

    >>> data = compound_file({("PROJECT",): b"ID=...", ("VBA", "dir"): b"\\x01"})
    >>> data[:8].hex()
    'd0cf11e0a1b11ae1'
"""

from __future__ import annotations

import struct

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT, ENDOFCHAIN, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
STORAGE, STREAM, ROOT = 1, 2, 5
RED, BLACK = 0, 1


def _sort_key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4: siblings are ordered by name length, then by upper-cased name."""
    return len(name), name.upper()


class _Entry:
    def __init__(self, name: str, kind: int, data: bytes = b""):
        if len(name) > 31:
            raise ValueError(f"compound file entry name longer than 31 characters: {name}")
        self.name, self.kind, self.data = name, kind, data
        self.children: dict[str, _Entry] = {}
        self.left = self.right = self.child = NOSTREAM
        self.color = BLACK
        self.start, self.size = ENDOFCHAIN, 0
        self.sid = 0


def _balanced(entries: list[_Entry], depth: int, out: list[tuple[_Entry, int]]) -> int:
    """Link a sorted sibling list into a balanced binary tree; return the root's id."""
    if not entries:
        return NOSTREAM
    mid = len(entries) // 2
    node = entries[mid]
    out.append((node, depth))
    node.left = _balanced(entries[:mid], depth + 1, out)
    node.right = _balanced(entries[mid + 1 :], depth + 1, out)
    return node.sid


def _link_children(parent: _Entry) -> None:
    """A valid red-black tree: a median-split tree whose deepest level, if not the root, is red."""
    siblings = sorted(parent.children.values(), key=lambda e: _sort_key(e.name))
    placed: list[tuple[_Entry, int]] = []
    parent.child = _balanced(siblings, 0, placed)
    deepest = max((d for _, d in placed), default=0)
    for node, depth in placed:
        node.color = RED if depth == deepest and depth > 0 else BLACK
    for node in siblings:
        _link_children(node)


def _chain(start: int, count: int) -> list[int]:
    return [start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN] if count else []


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\0" * (-len(data) % size)


def compound_file(streams: dict[tuple[str, ...], bytes]) -> bytes:
    """The bytes of a compound file holding ``streams`` (path tuple → content); storages implied."""
    root = _Entry("Root Entry", ROOT)
    for path, data in streams.items():
        node = root
        for part in path[:-1]:
            node = node.children.setdefault(part, _Entry(part, STORAGE))
        node.children[path[-1]] = _Entry(path[-1], STREAM, bytes(data))

    # directory order: breadth-first from the root, siblings sorted — fixed for fixed input
    entries, queue = [], [root]
    while queue:
        node = queue.pop(0)
        node.sid = len(entries)
        entries.append(node)
        queue.extend(sorted(node.children.values(), key=lambda e: _sort_key(e.name)))
    _link_children(root)

    small = [e for e in entries if e.kind == STREAM and len(e.data) < MINI_CUTOFF]
    large = [e for e in entries if e.kind == STREAM and len(e.data) >= MINI_CUTOFF]

    mini_stream, mini_fat = b"", []
    for e in small:
        e.size = len(e.data)
        count = -(-len(e.data) // MINI_SECTOR)
        e.start = len(mini_fat) if count else ENDOFCHAIN
        mini_fat += _chain(len(mini_fat), count)
        mini_stream += _pad(e.data, MINI_SECTOR)

    dir_sectors = -(-len(entries) * 128 // SECTOR)
    minifat_sectors = -(-len(mini_fat) * 4 // SECTOR)
    ministream_sectors = -(-len(mini_stream) // SECTOR)
    large_sectors = [-(-len(e.data) // SECTOR) for e in large]
    other = dir_sectors + minifat_sectors + ministream_sectors + sum(large_sectors)
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < other + fat_sectors:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("compound file too large for a header-only DIFAT (> ~7 MB)")

    # sector layout: FAT | directory | mini FAT | mini stream | large streams
    fat = [FATSECT] * fat_sectors
    dir_start = len(fat)
    fat += _chain(dir_start, dir_sectors)
    minifat_start = len(fat) if minifat_sectors else ENDOFCHAIN
    fat += _chain(len(fat), minifat_sectors)
    root.start = len(fat) if ministream_sectors else ENDOFCHAIN
    root.size = len(mini_stream)
    fat += _chain(len(fat), ministream_sectors)
    for e, count in zip(large, large_sectors):
        e.start, e.size = len(fat), len(e.data)
        fat += _chain(len(fat), count)
    fat += [FREESECT] * (fat_sectors * SECTOR // 4 - len(fat))

    directory = b"".join(_dir_entry(e) for e in entries)
    directory += _empty_dir_entry() * (dir_sectors * SECTOR // 128 - len(entries))

    difat = list(range(fat_sectors)) + [FREESECT] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("d0cf11e0a1b11ae1"),
        b"\0" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        fat_sectors,
        dir_start,
        0,
        MINI_CUTOFF,
        minifat_start,
        minifat_sectors,
        ENDOFCHAIN,
        0,
    ) + struct.pack("<109I", *difat)
    assert len(header) == SECTOR

    body = [
        struct.pack(f"<{len(fat)}I", *fat),
        directory,
        _pad(struct.pack(f"<{len(mini_fat)}I", *mini_fat), SECTOR) if mini_fat else b"",
        _pad(mini_stream, SECTOR),
        *(_pad(e.data, SECTOR) for e in large),
    ]
    return header + b"".join(body)


def _dir_entry(e: _Entry) -> bytes:
    name = (e.name + "\0").encode("utf-16-le")
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        e.kind,
        e.color,
        e.left,
        e.right,
        e.child,
        b"\0" * 16,
        0,
        0,
        0,
        e.start if e.kind != STORAGE else 0,
        e.size if e.kind != STORAGE else 0,
    )


def _empty_dir_entry() -> bytes:
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"\0" * 16, 0, 0, 0, 0, 0)
