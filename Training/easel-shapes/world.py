#!/usr/bin/env python3
"""The procedurally generated "shapes" world behind Easel's bundled model.

One shape per image (circle, square or triangle), small (about a quarter of the
image wide) or large (a bit under half), at one of nine positions, in a named
colour on a plain background of another named colour.

Everything here is deterministic given the seed arguments.  The renderer is
written in torch so the trainer can draw batches on the GPU; `render_tuple`
gives a plain uint8 numpy image for tools and tests.

Geometry (image coordinates in pixels, the image spans [0, W] x [0, H]):
  * circle: diameter s;  square: side s;  triangle: apex up, base s, height s.
  * the shape's area centroid is placed at the centre of its 3x3 cell, plus a
    little jitter, then clamped so that the shape fits in the image and its
    centroid stays inside the cell (the analyzer reads the centroid's cell).
  * small s = 16 px, large s = 28 px at 64x64 (scaled with the image size),
    each times (1 +- 5%).
  * colours are the named sRGB values +- a few units of jitter per channel.
Rendering supersamples 4x4 per pixel and box-averages (anti-aliased edges).

Styles: "filled" (the default, what the base model was trained on) paints the whole
shape; "outline" paints only a band of OUTLINE_FRAC * W (2.5 px at 64x64) inside the
same boundary: the shape minus the shape inset by that width (circle radius - w,
square half side - w, triangle with each edge moved inward by w), anti-aliased the
same way, so the filled and outline renders share their outer edge exactly.
"""
from __future__ import annotations

import hashlib
import math
import random

import numpy as np

WORLD_VERSION = "shapes-1"

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "orange": (245, 140, 20),
    "purple": (140, 50, 180),
}
COLOUR_NAMES = list(COLOURS)
SHAPES = ["circle", "square", "triangle"]
SIZES = ["small", "large"]
# name -> (row, col, canonical phrase, alternative phrase)
POSITIONS = {
    "top_left": (0, 0, "in the top left corner", "at the top left"),
    "top": (0, 1, "at the top", "at the top center"),
    "top_right": (0, 2, "in the top right corner", "at the top right"),
    "left": (1, 0, "on the left", "at the left"),
    "center": (1, 1, "in the center", "in the middle"),
    "right": (1, 2, "on the right", "at the right"),
    "bottom_left": (2, 0, "in the bottom left corner", "at the bottom left"),
    "bottom": (2, 1, "at the bottom", "at the bottom center"),
    "bottom_right": (2, 2, "in the bottom right corner", "at the bottom right"),
}
POSITION_NAMES = list(POSITIONS)

SMALL_FRAC = 16.0 / 64.0
LARGE_FRAC = 28.0 / 64.0
SIZE_JITTER = 0.05
POS_JITTER_FRAC = 1.5 / 64.0
COLOUR_JITTER = 6.0
SUPERSAMPLE = 4
OUTLINE_FRAC = 2.5 / 64.0  # stroke width of the "outline" style, as a fraction of the image width
STYLES = ["filled", "outline"]

HELD_OUT_PERMILLE = 100  # ~10% of the tuples never appear in training


# --------------------------------------------------------------------------- tuples / split

def all_tuples():
    """Every (colour, shape, position, background, size) with colour != background."""
    out = []
    for c in COLOUR_NAMES:
        for s in SHAPES:
            for p in POSITION_NAMES:
                for b in COLOUR_NAMES:
                    if b == c:
                        continue
                    for z in SIZES:
                        out.append((c, s, p, b, z))
    return out


def is_held_out(t, split_seed: int = 0) -> bool:
    key = f"{WORLD_VERSION}|{split_seed}|" + "|".join(t)
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return h % 1000 < HELD_OUT_PERMILLE


def split(split_seed: int = 0):
    train, held = [], []
    for t in all_tuples():
        (held if is_held_out(t, split_seed) else train).append(t)
    return train, held


# --------------------------------------------------------------------------- prompts

def canonical_prompt(t) -> str:
    c, s, p, b, z = t
    return f"a {z} {c} {s} {POSITIONS[p][2]} on a {b} background"


# Training wordings: index 0 is the canonical form every user prompt follows.
PROMPT_VARIANT_WEIGHTS = [0.55, 0.15, 0.15, 0.15]


def prompt_variant(t, v: int) -> str:
    c, s, p, b, z = t
    phrase, alt = POSITIONS[p][2], POSITIONS[p][3]
    if v == 0:
        return canonical_prompt(t)
    if v == 1:
        return f"a {z} {c} {s} on a {b} background {phrase}"
    if v == 2:
        return f"a {b} background with a {z} {c} {s} {alt}"
    if v == 3:
        return f"{z} {c} {s} {alt} {b} background"
    raise ValueError(v)


NUM_PROMPT_VARIANTS = len(PROMPT_VARIANT_WEIGHTS)


def vocabulary():
    """Words used by every prompt form (sorted, deterministic)."""
    words = set()
    for c in COLOUR_NAMES:
        words.add(c)
    words.update(SHAPES)
    words.update(SIZES)
    for p in POSITIONS.values():
        words.update(p[2].split())
        words.update(p[3].split())
    words.update("a on background with".split())
    # A few harmless extras so near-miss user wordings don't all go to <unk>.
    words.update("an the of in at middle centre corner image picture".split())
    return sorted(words)


# --------------------------------------------------------------------------- geometry

def _size_px(size_name: str, width: int) -> float:
    return (SMALL_FRAC if size_name == "small" else LARGE_FRAC) * width


def shape_extents(shape_id, s):
    """Offsets of the bounding box around the area centroid: (left, right, up, down)."""
    import torch
    half = s / 2
    is_tri = shape_id == 2
    up = torch.where(is_tri, 2 * s / 3, half)
    down = torch.where(is_tri, s / 3, half)
    return half, half, up, down


def layout(shape_id, size_id, row, col, width, height, gen=None, jitter=True):
    """Place shapes.  All args are 1-D torch tensors (ids / rows / cols, long).

    Returns (cx, cy, s) float tensors: the area centroid and the size in pixels."""
    import torch
    dev = shape_id.device
    n = shape_id.shape[0]

    def u(a):  # uniform in [-a, a]
        if not jitter:
            return torch.zeros(n, device=dev)
        return (torch.rand(n, device=dev, generator=gen) * 2 - 1) * a

    base = torch.where(size_id == 1, torch.tensor(LARGE_FRAC * width, device=dev),
                       torch.tensor(SMALL_FRAC * width, device=dev))
    s = base * (1 + u(SIZE_JITTER))
    cw, ch = width / 3.0, height / 3.0
    cx = (col.float() + 0.5) * cw + u(POS_JITTER_FRAC * width)
    cy = (row.float() + 0.5) * ch + u(POS_JITTER_FRAC * height)
    left, right, up, down = shape_extents(shape_id, s)
    m = 0.5
    cx = torch.minimum(torch.maximum(cx, left + m), width - right - m)
    cy = torch.minimum(torch.maximum(cy, up + m), height - down - m)
    cm = 0.75  # keep the centroid clearly inside its cell
    cx = torch.minimum(torch.maximum(cx, col.float() * cw + cm), (col.float() + 1) * cw - cm)
    cy = torch.minimum(torch.maximum(cy, row.float() * ch + cm), (row.float() + 1) * ch - cm)
    return cx, cy, s


def render(shape_id, cx, cy, s, fg, bg, width=64, height=64, ss=SUPERSAMPLE, style="filled", stroke=None):
    """Anti-aliased renders.  fg/bg: [N,3] floats in [0,1].  Returns [N,3,H,W] in [0,1].

    style "filled" (default) or "outline" (a band `stroke` px wide inside the boundary, default
    OUTLINE_FRAC * width; the interior stays background)."""
    import torch
    if style not in STYLES:
        raise ValueError(f"style {style!r} (expected one of {STYLES})")
    dev = cx.device
    n = cx.shape[0]
    xs = (torch.arange(width * ss, device=dev, dtype=torch.float32) + 0.5) / ss
    ys = (torch.arange(height * ss, device=dev, dtype=torch.float32) + 0.5) / ss
    X = xs.view(1, 1, -1)
    Y = ys.view(1, -1, 1)
    cx_ = cx.view(n, 1, 1)
    cy_ = cy.view(n, 1, 1)
    h = (s / 2).view(n, 1, 1)
    dx = X - cx_
    dy = Y - cy_
    top = cy_ - 4 * h / 3          # apex: centroid - 2s/3
    rel = Y - top                  # depth below the apex
    sid = shape_id.view(n, 1, 1)

    def inside(w):
        """The shape with its boundary moved inward by w px (w = 0: the shape itself)."""
        r = h - w
        circle = dx * dx + dy * dy <= r * r
        square = (dx.abs() <= r) & (dy.abs() <= r)
        if w == 0:
            tri = (rel >= 0) & (rel <= 2 * h) & (dx.abs() <= rel / 2)
        else:
            # sides |dx| = rel/2 have unit normal (1, -1/2)/sqrt(1.25): distance (rel/2 - |dx|)/sqrt(1.25)
            tri = (rel <= 2 * h - w) & ((rel / 2 - dx.abs()) >= w * math.sqrt(1.25))
        return torch.where(sid == 0, circle, torch.where(sid == 1, square, tri))

    inside_px = inside(0)
    if style == "outline":
        w = OUTLINE_FRAC * width if stroke is None else float(stroke)
        inside_px = inside_px & ~inside(w)
    cov = inside_px.float().view(n, height, ss, width, ss).mean(dim=(2, 4))  # [N,H,W]
    cov = cov.unsqueeze(1)
    return bg.view(n, 3, 1, 1) + cov * (fg - bg).view(n, 3, 1, 1)


class TupleTable:
    """Tuples as index tensors, for fast batched rendering on a device."""

    def __init__(self, tuples, device="cpu"):
        import torch
        self.tuples = list(tuples)
        cols = list(zip(*self.tuples))
        self.colour = torch.tensor([COLOUR_NAMES.index(c) for c in cols[0]], device=device)
        self.shape = torch.tensor([SHAPES.index(s) for s in cols[1]], device=device)
        self.row = torch.tensor([POSITIONS[p][0] for p in cols[2]], device=device)
        self.col = torch.tensor([POSITIONS[p][1] for p in cols[2]], device=device)
        self.bg = torch.tensor([COLOUR_NAMES.index(b) for b in cols[3]], device=device)
        self.size = torch.tensor([SIZES.index(z) for z in cols[4]], device=device)
        self.palette = torch.tensor([COLOURS[c] for c in COLOUR_NAMES], device=device,
                                    dtype=torch.float32)
        self.device = device

    def __len__(self):
        return len(self.tuples)

    def render(self, idx, width=64, height=64, gen=None, jitter=True, style="filled"):
        """idx: long tensor of tuple indices.  Returns [N,3,H,W] floats in [0,1].

        The random draws (layout, colour jitter) do not depend on `style`: the same generator state
        gives the same shape, place and colours in either style."""
        import torch
        sid = self.shape[idx]
        cx, cy, s = layout(sid, self.size[idx], self.row[idx], self.col[idx], width, height,
                           gen=gen, jitter=jitter)
        fg = self.palette[self.colour[idx]]
        bg = self.palette[self.bg[idx]]
        if jitter:
            n = idx.shape[0]
            fg = fg + (torch.rand(n, 3, device=self.device, generator=gen) * 2 - 1) * COLOUR_JITTER
            bg = bg + (torch.rand(n, 3, device=self.device, generator=gen) * 2 - 1) * COLOUR_JITTER
        fg = fg.clamp(0, 255) / 255.0
        bg = bg.clamp(0, 255) / 255.0
        return render(sid, cx, cy, s, fg, bg, width, height, style=style)


def render_tuple(t, seed=0, width=64, height=64, jitter=True, style="filled"):
    """One image as uint8 HxWx3 numpy (style "filled" or "outline")."""
    import torch
    table = TupleTable([t])
    g = torch.Generator().manual_seed(seed)
    img = table.render(torch.zeros(1, dtype=torch.long), width, height, gen=g, jitter=jitter, style=style)
    return (img[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def to_uint8(img):
    """[N,3,H,W] float in [0,1] (torch) -> [N,H,W,3] uint8 numpy."""
    return (img.permute(0, 2, 3, 1).float().cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- PNG (no PIL needed)

def write_png(path, img):
    """img: uint8 HxWx3 numpy."""
    import struct
    import zlib
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def grid(images, cols):
    """List of HxWx3 uint8 -> one uint8 mosaic with 2 px gaps."""
    n = len(images)
    h, w, _ = images[0].shape
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + 2) + 2, cols * (w + 2) + 2, 3), 128, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + c * (w + 2):2 + c * (w + 2) + w] = im
    return out


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--png", help="write a mosaic of random renders here")
    ap.add_argument("--style", default="filled", choices=STYLES, help="rendering style of the --png mosaic")
    args = ap.parse_args()
    tr, ho = split(args.split_seed)
    print(f"world {WORLD_VERSION}: {len(tr) + len(ho)} tuples, {len(tr)} train, {len(ho)} held out")
    print("vocabulary:", " ".join(vocabulary()))
    print("example:", canonical_prompt(ho[0]))
    if args.png:
        rng = random.Random(0)
        picks = rng.sample(tr + ho, 32)
        write_png(args.png, grid([render_tuple(t, seed=i, style=args.style) for i, t in enumerate(picks)], 8))
        for i, t in enumerate(picks[:8]):
            print(i, canonical_prompt(t))
