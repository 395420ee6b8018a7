#!/usr/bin/env python3
"""Step caching (First-Block-Cache class) on easel-shapes through the Swift engine: threshold -> full transformer
passes, wall time, PSNR against the uncached images, and the ShapesEval scores (Training/easel-shapes/analyzer.py).

For every threshold it runs, per held-out combination (world.is_held_out, split seed 0, evenly spread),

    easel generate --model M --prompt P --steps STEPS --seed S0 --num-images K --threads T --cache-threshold X

and reads back the images, the engine's generate time and its "transformer passes" line. Threshold 0 is the
uncached reference (it must come first). Prints one markdown table. Driven by Scripts/bench-cache.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Training", "easel-shapes"))
from analyzer import ATTRS, analyze, score  # noqa: E402
from world import canonical_prompt, split  # noqa: E402

TARGETS = {"colour": 0.95, "background": 0.95, "position": 0.90, "shape": 0.80, "size": 0.90}


def read_png(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--easel", default=os.path.join(ROOT, ".build", "release", "easel"))
    ap.add_argument("--model", default=os.path.join(ROOT, "Config", "models", "easel-shapes"))
    ap.add_argument("--thresholds", default="0,0.05,0.1,0.15,0.2,0.3")
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--limit", type=int, default=100, help="held-out combinations, evenly spread")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--seed-base", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench-cache")
    ap.add_argument("--reuse-reference", action="store_true",
                    help="read the threshold-0 images of an earlier run in --out instead of generating them")
    a = ap.parse_args()

    thresholds = [float(x) for x in a.thresholds.split(",")]
    if thresholds[0] != 0:
        sys.exit("the first threshold must be 0 (the uncached reference)")
    _, held = split(0)
    combos = [held[(i * len(held)) // a.limit] for i in range(a.limit)] if a.limit < len(held) else list(held)
    print(f"easel-shapes, {len(combos)} held-out combinations x {a.seeds} seeds, {a.steps} steps, "
          f"{a.threads} threads, engine {a.easel}", flush=True)
    rows, ref = [], {}
    for th in thresholds:
        d = os.path.join(a.out, f"t{th:g}")
        os.makedirs(d, exist_ok=True)
        total = full = 0
        gen_s = 0.0
        results, tuples, psnrs = [], [], []
        t0 = time.time()
        for k, t in enumerate(combos):
            out = os.path.join(d, f"{k:03d}.png")
            reuse = th == 0 and a.reuse_reference
            if reuse:
                # The passes of the uncached run: steps x images x 2 (easel-shapes has true CFG).
                total += 2 * a.steps * a.seeds; full += 2 * a.steps * a.seeds
            else:
                cmd = [a.easel, "generate", "--model", a.model, "--prompt", canonical_prompt(t), "--steps", str(a.steps),
                       "--seed", str(a.seed_base), "--num-images", str(a.seeds), "--threads", str(a.threads),
                       "--cache-threshold", str(th), "--out", out]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"easel failed: {' '.join(cmd)}\n{p.stderr}")
                gen_s += float(re.search(r"generate best ([0-9.]+) s", p.stderr).group(1))
                m = re.search(r"transformer passes: (\d+) \((\d+) full", p.stderr)
                total += int(m.group(1)); full += int(m.group(2))
            for i in range(a.seeds):
                path = out if a.seeds == 1 else os.path.join(d, f"{k:03d}-{i}.png")
                img = read_png(path)
                r = analyze(img)
                r.pop("_features", None)
                results.append(r); tuples.append(t)
                if th == 0:
                    ref[(k, i)] = img
                else:
                    psnrs.append(psnr(img, ref[(k, i)]))
        sc = score(results, tuples)
        ok = all(sc[x] >= TARGETS[x] for x in ATTRS)
        finite = [x for x in psnrs if math.isfinite(x)]
        identical = len(psnrs) - len(finite)
        rows.append((th, total, full, gen_s, psnrs, finite, identical, sc, ok))
        print(f"  threshold {th:g}: {full}/{total} full passes, {gen_s:.1f} s generate, {time.time() - t0:.0f} s wall",
              flush=True)

    base_full, base_s = rows[0][2], rows[0][3]
    n = len(combos) * a.seeds
    print()
    print(f"| threshold | full passes | fewer passes | generate s | speed-up | PSNR vs uncached (min / median dB) | "
          + " | ".join(ATTRS) + " | targets |")
    print("|---|---|---|---|---|---|" + "---|" * len(ATTRS) + "---|")
    for th, total, full, gen_s, psnrs, finite, identical, sc, ok in rows:
        if th == 0:
            q = "reference"
        elif not finite:
            q = f"identical ({identical}/{len(psnrs)})"
        else:
            q = f"{min(finite):.1f} / {float(np.median(psnrs if identical == 0 else [min(x, 99.0) for x in psnrs])):.1f}"
            if identical:
                q += f" ({identical} identical)"
        speed = f"{base_s / gen_s:.2f}x" if base_s > 0 and gen_s > 0 else "-"
        print(f"| {th:g} | {full}/{total} | {base_full / full:.2f}x | {gen_s:.1f} | {speed} | {q} | "
              + " | ".join(f"{100 * sc[x]:.1f}" for x in ATTRS) + f" | {'PASS' if ok else 'FAIL'} |")
    print(f"\n{n} images per row; generate s is the engine's own generate time summed over {len(combos)} calls "
          f"(batches of {a.seeds}); PSNR over 8-bit RGB against the threshold-0 image of the same prompt and seed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
