#!/usr/bin/env python3
"""Deterministic analyzer for the shapes world (numpy only).

analyze(img) -> {"colour", "background", "position", "shape", "size", "outline"} for a
uint8 HxWx3 image, with the same vocabulary as world.py ("outline": True when the shape is
drawn as its boundary only, world.render(style="outline")).  Method:

  1. background = the per-channel median of the 2-pixel border ring, snapped to
     the nearest named colour;
  2. rough foreground = pixels more than 40 RGB units from the background
     estimate; foreground colour = median of those, snapped likewise;
  3. sharp mask = pixels nearer the foreground than the background (projection
     on the bg->fg segment > 0.5), reduced to its largest 4-connected component;
  4. position = 3x3 cell of the mask's centroid;  size = longer bounding-box
     side vs. 22/64 of the image;  shape = nearest prototype in (fill ratio of
     the bounding box, share of the mask in the top half of its box):
     square (1.0, 0.5), circle (0.785, 0.5), triangle (0.5, 0.25).
  5. outline = the shape's region is the convex hull of the mask (every shape of
     the world is convex; the hull also closes a stroke with gaps), rasterised at
     pixel centres; eroded by up to OUTLINE_ERODE px (3x3 steps, kept to at least
     OUTLINE_MIN_INTERIOR pixels) it is the interior; outline when less than half
     of the interior is foreground (sharp mask before the component step).
     For an outline the shape features, size and position (step 4) are read on
     the hull, which stands for the filled shape; filled images keep the mask
     (their results are exactly what they were before outline detection); an
     outline's colour is the median of the stroke's core (pixels at least 0.8 x
     the 90th percentile of the rough mask's distance from the background), since
     half of a thin stroke is anti-aliased edge.

`python Training/easel-shapes/analyzer.py --selftest` renders random true images and
prints the per-attribute accuracy (should be 100%).
"""
from __future__ import annotations

import numpy as np

from world import COLOURS, POSITIONS, SHAPES  # this folder is on sys.path (script dir, or its importer adds it)

_NAMES = list(COLOURS)
_PAL = np.array([COLOURS[n] for n in _NAMES], np.float32)
_CELL_TO_POS = {(v[0], v[1]): k for k, v in POSITIONS.items()}
_PROTOS = np.array([[0.785, 0.5], [1.0, 0.5], [0.5, 0.25]], np.float32)  # order of SHAPES
ATTRS = ["colour", "background", "position", "shape", "size"]
OUTLINE_ERODE = 4
OUTLINE_MIN_INTERIOR = 4


def _nearest(rgb):
    return _NAMES[int(np.argmin(((_PAL - rgb[None]) ** 2).sum(1)))]


def _largest_component(mask):
    """Largest 4-connected component by iterative label propagation (numpy only)."""
    h, w = mask.shape
    big = np.int64(h * w + 1)
    lab = np.where(mask, np.arange(h * w).reshape(h, w), big)
    for _ in range(4 * (h + w)):
        m = lab.copy()
        m[1:] = np.minimum(m[1:], lab[:-1])
        m[:-1] = np.minimum(m[:-1], lab[1:])
        m[:, 1:] = np.minimum(m[:, 1:], lab[:, :-1])
        m[:, :-1] = np.minimum(m[:, :-1], lab[:, 1:])
        m = np.where(mask, m, big)
        if np.array_equal(m, lab):
            break
        lab = m
    vals, counts = np.unique(lab[mask], return_counts=True)
    if len(vals) == 0:
        return mask
    return lab == vals[np.argmax(counts)]


def _convex_hull_mask(mask):
    """Pixels whose centres lie in (or on) the convex hull of the mask's pixel centres."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    pts = sorted(set(zip(xs.tolist(), ys.tolist())))
    if len(pts) < 3:
        return mask.copy()

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in pts:  # Andrew's monotone chain
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]  # counter-clockwise in (x, y) with y down: cross >= 0 inside
    if len(hull) < 3:
        return mask.copy()
    Y, X = np.mgrid[0:h, 0:w]
    out = np.ones((h, w), bool)
    for i in range(len(hull)):
        (x0, y0), (x1, y1) = hull[i], hull[(i + 1) % len(hull)]
        out &= (x1 - x0) * (Y - y0) - (y1 - y0) * (X - x0) >= 0
    return out | mask


def _erode(mask, n, keep):
    """Up to n 3x3 erosions, stopping before fewer than `keep` pixels would remain."""
    m = mask
    for _ in range(n):
        e = m.copy()
        e[1:] &= m[:-1]
        e[:-1] &= m[1:]
        e[:, 1:] &= m[:, :-1]
        e[:, :-1] &= m[:, 1:]
        e[1:, 1:] &= m[:-1, :-1]
        e[1:, :-1] &= m[:-1, 1:]
        e[:-1, 1:] &= m[1:, :-1]
        e[:-1, :-1] &= m[1:, 1:]
        e[0] = e[-1] = False
        e[:, 0] = e[:, -1] = False
        if e.sum() < keep:
            break
        m = e
    return m


def analyze(img):
    img = np.asarray(img)
    assert img.ndim == 3 and img.shape[2] == 3, img.shape
    h, w, _ = img.shape
    x = img.astype(np.float32)
    ring = np.concatenate([x[:2].reshape(-1, 3), x[-2:].reshape(-1, 3),
                           x[:, :2].reshape(-1, 3), x[:, -2:].reshape(-1, 3)])
    bg_rgb = np.median(ring, axis=0)
    res = {"background": _nearest(bg_rgb)}
    dist = np.sqrt(((x - bg_rgb) ** 2).sum(-1))
    rough = dist > 40
    if rough.sum() < 3:
        res.update(colour="none", position="none", shape="none", size="none", outline=False)
        return res
    fg_rgb = np.median(x[rough], axis=0)
    res["colour"] = _nearest(fg_rgb)
    d = fg_rgb - bg_rgb
    proj = ((x - bg_rgb) * d).sum(-1) / max(float((d * d).sum()), 1e-6)
    sharp = proj > 0.5
    mask = _largest_component(sharp)
    ys, xs = np.nonzero(mask)
    if len(ys) < 3:
        res.update(position="none", shape="none", size="none", outline=False)
        return res
    hull = _convex_hull_mask(mask)
    interior = _erode(hull, OUTLINE_ERODE, OUTLINE_MIN_INTERIOR)
    fg_share = float(sharp[interior].mean()) if interior.any() else 1.0
    res["outline"] = bool(fg_share < 0.5)
    if res["outline"]:
        # a 2-3 px stroke is largely anti-aliased edge: its median leans to the background, so the colour is
        # read on the stroke's core (the pixels at least 80% as far from the background as the 90th percentile)
        far = dist[rough]
        core = rough & (dist >= 0.8 * np.percentile(far, 90))
        res["colour"] = _nearest(np.median(x[core], axis=0))
        ys, xs = np.nonzero(hull)
    cy, cx = ys.mean() + 0.5, xs.mean() + 0.5
    row = min(int(cy * 3 / h), 2)
    col = min(int(cx * 3 / w), 2)
    res["position"] = _CELL_TO_POS[(row, col)]
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bw, bh = x1 - x0, y1 - y0
    fill = len(ys) / float(bw * bh)
    top = (ys < y0 + bh / 2.0).sum() / float(len(ys))
    feat = np.array([fill, top], np.float32)
    res["shape"] = SHAPES[int(np.argmin(((_PROTOS - feat) ** 2).sum(1)))]
    res["size"] = "large" if max(bw / w, bh / h) > 22.0 / 64.0 else "small"
    res["_features"] = (round(float(fill), 3), round(float(top), 3), int(bw), int(bh), round(fg_share, 3))
    return res


def truth(t):
    c, s, p, b, z = t
    return {"colour": c, "background": b, "position": p, "shape": s, "size": z}


def score(results, tuples):
    """Per-attribute accuracy (fractions) plus 'all' (every attribute right)."""
    acc = {a: 0 for a in ATTRS}
    acc["all"] = 0
    for r, t in zip(results, tuples):
        tr = truth(t)
        ok = True
        for a in ATTRS:
            if r.get(a) == tr[a]:
                acc[a] += 1
            else:
                ok = False
        acc["all"] += ok
    n = max(len(tuples), 1)
    return {k: v / n for k, v in acc.items()}


def format_scores(sc):
    return "  ".join(f"{k} {100 * v:5.1f}%" for k, v in sc.items())


def outline_share(results):
    """Fraction of results the analyzer reads as outline drawings."""
    return sum(bool(r.get("outline")) for r in results) / max(len(results), 1)


def selftest(n=3000, seed=0, size=64, style="filled"):
    """Score n random true renders of `style`: (per-attribute scores + 'outline' = share read in the right
    style, misses)."""
    import random

    import torch
    from world import TupleTable, all_tuples, to_uint8
    rng = random.Random(seed)
    tuples = [rng.choice(all_tuples()) for _ in range(n)]
    table = TupleTable(tuples)
    g = torch.Generator().manual_seed(seed)
    imgs = []
    for i in range(0, n, 256):
        idx = torch.arange(i, min(i + 256, n))
        imgs.append(to_uint8(table.render(idx, size, size, gen=g, style=style)))
    imgs = np.concatenate(imgs)
    res = [analyze(im) for im in imgs]
    sc = score(res, tuples)
    want = style == "outline"
    sc["outline"] = sum(r["outline"] == want for r in res) / max(n, 1)
    bad = [(t, r) for t, r in zip(tuples, res)
           if any(r.get(a) != truth(t)[a] for a in ATTRS) or r["outline"] != want]
    return sc, bad


if __name__ == "__main__":
    import argparse
    import time
    ap = argparse.ArgumentParser()
    ap.add_argument("--selftest", action="store_true",
                    help="filled and outline true renders: per-attribute accuracy, 'outline' = style read right")
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("images", nargs="*", help="PNG files to analyze (needs PIL)")
    a = ap.parse_args()
    if a.selftest:
        for style in ("filled", "outline"):
            t0 = time.time()
            sc, bad = selftest(a.n, size=a.size, style=style)
            print(f"analyzer self-test on {a.n} true {style} renders ({a.size}x{a.size}): {format_scores(sc)}"
                  f"  [{time.time() - t0:.1f}s]")
            for t, r in bad[:10]:
                print("  miss:", t, r)
    for p in a.images:
        from PIL import Image
        print(p, analyze(np.asarray(Image.open(p).convert("RGB"))))
