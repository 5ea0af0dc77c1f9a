"""A small, valid PNG made in memory (zlib + struct, no imaging library)."""

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png(seed: str, size: int = 64) -> bytes:
    """An RGB gradient whose colours depend on `seed`, so different prompts give different images."""
    digest = hashlib.sha256(seed.encode()).digest()
    r0, g0, b0 = digest[0], digest[1], digest[2]
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type "None" for every scanline
        for x in range(size):
            row += bytes(((r0 + 4 * x) % 256, (g0 + 4 * y) % 256, (b0 + 2 * (x + y)) % 256))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )
