#!/usr/bin/env python3
"""Held-out evaluation of easel-shapes through the Swift engine (driver for Scripts/eval-shapes).

For each held-out combination (world.is_held_out, split seed 0) it runs once

    easel generate --model M --prompt "<canonical prompt>" --seed S0 --num-images K --threads T --out DIR/NNN.png

at the model's defaults (steps, guidance from easel.json: 8 steps, true CFG 2.5, empty negative
prompt), so image i uses the engine's noise seed S0 + i; then reads the PNGs the CLI wrote and
scores them with Training/easel-shapes/analyzer.py. Prints per-attribute accuracy against the targets,
the misses, the outline share (images the analyzer reads as drawn in outline, world style
"outline") and the time per image. Writes DIR/results.json.

--lora FILE[:SCALE] (repeatable) is passed to `easel generate`.  With any LoRA at a scale
other than 0 the targets are the outline LoRA's (Config/loras/README.md): outline >= 90 %,
colour, background >= 95, position >= 90 (shape and size reported, not required); else the
base model's (outline share reported).  --compare-to DIR compares every PNG pixel for pixel
with an earlier run's DIR (the same --limit/--seeds), e.g. a LoRA at scale 0 against the base.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from analyzer import ATTRS, analyze, score, truth  # noqa: E402
from world import WORLD_VERSION, canonical_prompt, split  # noqa: E402

TARGETS = {"colour": 0.95, "background": 0.95, "position": 0.90, "shape": 0.80, "size": 0.90}
# with an outline LoRA applied (scale != 0): shape and size are reported, not required
LORA_TARGETS = {"outline": 0.90, "colour": 0.95, "background": 0.95, "position": 0.90}


def lora_scale(spec):
    """The scale of a --lora FILE[:SCALE] spec, as the easel CLI reads it (default 1)."""
    if ":" in spec:
        try:
            return float(spec.rsplit(":", 1)[1])
        except ValueError:
            pass
    return 1.0


def read_png(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def spread(items, n):
    """n items evenly spread over the list (deterministic), all of them if n >= len."""
    if n is None or n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--easel", default=os.path.join(HERE, "..", "..", ".build-eval", "release", "easel"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "Config", "models", "easel-shapes"))
    ap.add_argument("--limit", type=int, default=None, help="only N held-out combinations, evenly spread")
    ap.add_argument("--seeds", type=int, default=4, help="images (noise seeds) per combination")
    ap.add_argument("--seed-base", type=int, default=1000, help="first noise seed (image i: base + i)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/eval-shapes", help="folder for the PNGs and results.json")
    ap.add_argument("--no-build", action="store_true", help="(handled by Scripts/eval-shapes)")
    ap.add_argument("--lora", action="append", default=[], metavar="FILE[:SCALE]",
                    help="passed to easel generate (repeatable); a scale != 0 switches to the outline LoRA targets")
    ap.add_argument("--compare-to", metavar="DIR", default=None,
                    help="count the PNGs that are pixel-identical to the same-named ones in DIR (an earlier run)")
    a = ap.parse_args()

    _, held = split(a.split_seed)
    combos = spread(held, a.limit)
    os.makedirs(a.out, exist_ok=True)
    n_img = len(combos) * a.seeds
    print(f"world {WORLD_VERSION}: {len(combos)} of {len(held)} held-out combinations x {a.seeds} seeds "
          f"({a.seed_base}..{a.seed_base + a.seeds - 1}) = {n_img} images; Swift engine {a.easel}, "
          f"{a.threads} threads, model defaults" + "".join(f", --lora {x}" for x in a.lora), flush=True)
    lora_on = any(lora_scale(x) != 0 for x in a.lora)

    results, tuples, records = [], [], []
    engine_s = 0.0
    t_start = time.time()
    for k, t in enumerate(combos):
        prompt = canonical_prompt(t)
        out = os.path.join(a.out, f"{k:03d}.png")
        cmd = [a.easel, "generate", "--model", a.model, "--prompt", prompt, "--seed", str(a.seed_base),
               "--num-images", str(a.seeds), "--threads", str(a.threads), "--out", out]
        for x in a.lora:
            cmd += ["--lora", x]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"easel failed ({p.returncode}) for {prompt!r}:\n{p.stderr}")
        m = re.search(r"generate best ([0-9.]+) s", p.stderr)
        engine_s += float(m.group(1)) if m else 0.0
        for i in range(a.seeds):
            path = out if a.seeds == 1 else os.path.join(a.out, f"{k:03d}-{i}.png")
            r = analyze(read_png(path))
            r["outline"] = bool(r.get("outline"))
            feats = r.pop("_features", None)
            results.append(r)
            tuples.append(t)
            records.append({"prompt": prompt, "seed": a.seed_base + i, "file": os.path.basename(path),
                            "truth": truth(t), "read": r, "features": feats})
        if (k + 1) % 25 == 0 or k + 1 == len(combos):
            el = time.time() - t_start
            print(f"  {k + 1}/{len(combos)} combinations, {el:.0f} s", flush=True)
    wall = time.time() - t_start
    sc = score(results, tuples)

    outline = sum(r["outline"] for r in results) / max(len(results), 1)
    sc_all = dict(sc, outline=outline)
    targets = LORA_TARGETS if lora_on else TARGETS
    cols = ATTRS + ["all", "outline"]
    label = "held-out, Swift engine, defaults" + ("".join(f", LoRA {os.path.basename(x)}" for x in a.lora))
    print()
    print("| set | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    print(f"| {label} ({len(combos)} x {a.seeds}) | " + " | ".join(f"{100 * sc_all[x]:.1f}" for x in cols) + " |")
    print("| target | " + " | ".join(f">= {100 * targets[x]:.0f}" if x in targets else "-" for x in cols) + " |")
    verdict = {x: sc_all[x] >= targets[x] for x in targets}
    print("| result | " + " | ".join(("PASS" if verdict[x] else "FAIL") if x in targets else "-" for x in cols)
          + " |")
    print(f"outline share: {100 * outline:.1f}% of {len(results)} images read as outlines"
          + (" (outline LoRA targets: outline >= 90, colour/background >= 95, position >= 90; shape/size reported)"
             if lora_on else " (base-model targets; outline share reported)"))
    identical = None
    if a.compare_to:
        identical, missing, max_diff = 0, 0, 0
        for r in records:
            other = os.path.join(a.compare_to, r["file"])
            if not os.path.exists(other):
                missing += 1
                continue
            x, y = read_png(os.path.join(a.out, r["file"])), read_png(other)
            if x.shape == y.shape and np.array_equal(x, y):
                identical += 1
            else:
                max_diff = max(max_diff, int(np.abs(x.astype(int) - y.astype(int)).max()) if x.shape == y.shape
                               else 255)
        print(f"compare to {a.compare_to}: {identical} of {len(records)} images pixel-identical"
              + (f", {missing} missing there" if missing else "")
              + (f"; largest channel difference {max_diff}" if identical + missing < len(records) else ""))
    print()
    misses = [r for r in records if any(r["read"].get(x) != r["truth"][x] for x in ATTRS)
              or (lora_on and not r["read"]["outline"])]
    print(f"{len(misses)} images with a miss; first ones:")
    for r in misses[:12]:
        wrong = {x: r["read"].get(x) for x in ATTRS if r["read"].get(x) != r["truth"][x]}
        if lora_on and not r["read"]["outline"]:
            wrong["outline"] = False
        print(f"  {r['file']} seed {r['seed']} | {r['prompt']} -> {wrong} features {r['features']}")
    print()
    print(f"time: {wall:.1f} s wall for {n_img} images = {1000 * wall / n_img:.0f} ms per image "
          f"(process start, model load, PNG write and analysis included); engine generate time "
          f"{1000 * engine_s / n_img:.0f} ms per image ({a.threads} threads, batches of {a.seeds})")
    ok = all(verdict.values()) and (identical is None or identical == len(records))
    print("OVERALL:", "PASS" if ok else "FAIL")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"scores": sc_all, "targets": targets, "pass": ok, "loras": a.lora, "identical": identical,
                   "compare_to": a.compare_to, "combinations": len(combos),
                   "seeds": a.seeds, "seed_base": a.seed_base, "threads": a.threads, "wall_s": wall,
                   "engine_s": engine_s, "images": records}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
