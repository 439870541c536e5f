#!/usr/bin/env python3
"""png_colours.py FILE [NAME=RRGGBB...]: decode the screenshot FILE (8-bit RGB or RGBA PNG,
not interlaced, as headless Chromium writes it) and print, one per line:
  size=WxH, colours=<distinct colours>, background=<most common colour, hex>,
  and for each NAME=RRGGBB given, NAME=<pixels of exactly that colour>.
The status page tests check that the page was drawn with its inline CSS (colours present)
without comparing images."""
import struct
import sys
import zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
w = h = depth = ctype = interlace = None
while pos < len(data):
    n, t = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif t == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format"
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = {}
off = 0
for y in range(h):
    f = raw[off]
    line = bytearray(raw[off + 1:off + 1 + stride])
    off += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + ((a + b) >> 1)) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
print("size=%dx%d" % (w, h))
print("colours=%d" % len(colours))
print("background=%s" % max(colours, key=colours.get).hex())
for arg in sys.argv[2:]:
    name, hexcol = arg.split("=", 1)
    print("%s=%d" % (name, colours.get(bytes.fromhex(hexcol), 0)))
