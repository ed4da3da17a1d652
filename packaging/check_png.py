"""Is a PNG a real picture? Exit 0 if it has many colours and detail, else 1 (stdlib only).

    python3 packaging/check_png.py SHOT.png [--min-colours 200]

Used by the bundle's smoke test on a machine without the venv: a blank, black or
single-colour window (a GL context that failed, a window that never painted) fails.
"""

from __future__ import annotations

import struct
import sys
import zlib


def decode(path: str) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit RGB/RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (2, 6):
                raise ValueError(f"{path}: only 8-bit RGB/RGBA is checked (colour type {colour})")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray()
    prev = bytearray(stride)
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return w, h, bpp, bytes(out)


def main() -> int:
    path = sys.argv[1]
    need = int(sys.argv[sys.argv.index("--min-colours") + 1]) if "--min-colours" in sys.argv else 200
    w, h, bpp, px = decode(path)
    colours = {px[i:i + 3] for i in range(0, len(px), bpp * 7)}  # every 7th pixel
    print(f"{path}: {w}x{h}, {len(colours)} distinct colours (sampled)")
    return 0 if w >= 640 and h >= 400 and len(colours) >= need else 1


if __name__ == "__main__":
    sys.exit(main())
