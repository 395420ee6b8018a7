#!/usr/bin/env python3
"""PyTorch reference sampler for an easel-shapes model folder (no diffusers needed).

  python Training/easel-shapes/sample.py --model Config/models/easel-shapes \
      --prompt "a small red circle in the top left corner on a blue background" \
      --seeds 0 1 2 --out /tmp/samples --tensors /tmp/samples/parity.safetensors --analyze

Noise for seed s is torch.randn(1, 12, 32, 32, generator=torch.Generator().manual_seed(s))
(the unpacked pixel-unshuffled latent), packed as FluxPipeline packs latents.
--tensors writes, for a Swift parity test: clip_ids, t5_ids [B,L] (int64), pooled [B,Dc],
context [B,L,Dt], noise [B,12,32,32], noise_packed [B,256,48], velocity0 (the first
transformer output, cond), sigmas [steps+1], image [B,3,64,64] float in [0,1], and
the settings in the metadata.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import image_ids, initial_noise, load_folder, pack, sigma_schedule  # noqa: E402
from world import to_uint8, write_png  # noqa: E402

DEFAULT_PROMPTS = [
    "a small red circle in the top left corner on a blue background",
    "a large yellow square in the center on a black background",
    "a small white triangle at the bottom on a green background",
    "a large orange triangle on the right on a purple background",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Config",
                                                    "models", "easel-shapes"))
    ap.add_argument("--prompt", action="append", help="repeatable; default: four examples")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--shift", type=float, default=None)
    ap.add_argument("--cfg", type=float, default=None, help="true CFG scale (1 = off)")
    ap.add_argument("--out", default=None, help="folder for PNGs")
    ap.add_argument("--tensors", default=None, help="write a parity .safetensors here")
    ap.add_argument("--analyze", action="store_true", help="print the analyzer's reading of each image")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    pipe = load_folder(a.model, a.device)
    e = pipe.easel
    steps = a.steps or e["default_steps"]
    shift = a.shift if a.shift is not None else e["shift"]
    cfg = a.cfg if a.cfg is not None else e.get("true_cfg_scale", 1.0)
    prompts, seeds = [], []
    for p in a.prompt or DEFAULT_PROMPTS:
        for s in a.seeds:
            prompts.append(p)
            seeds.append(s)
    import time
    t0 = time.time()
    img, noise = pipe(prompts, seeds=seeds, steps=steps, shift=shift, cfg=cfg, return_noise=True)
    dt = time.time() - t0
    print(f"{len(prompts)} images, {steps} steps, shift {shift}, cfg {cfg}: {dt:.2f}s"
          f" ({dt / len(prompts) * 1000:.0f} ms/image, {torch.get_num_threads()} threads)")
    u8 = to_uint8(img)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for i, (p, s) in enumerate(zip(prompts, seeds)):
            name = f"{i:03d}_seed{s}_" + "_".join(p.split()[1:5]) + ".png"
            write_png(os.path.join(a.out, name), u8[i])
        print("wrote", len(prompts), "PNGs to", a.out)
    if a.analyze:
        from analyzer import analyze
        for p, s, im in zip(prompts, seeds, u8):
            r = analyze(im)
            r.pop("_features", None)
            print(f"seed {s} | {p} -> {r}")
    if a.tensors:
        from safetensors.torch import save_file

        from model import encode_ids
        with torch.no_grad():
            ci = encode_ids(pipe.tok_clip, prompts)
            ti = encode_ids(pipe.tok_t5, prompts)
            pooled, ctx = pipe.encode(prompts)
            H, W, u = e["height"], e["width"], e["pixel_unshuffle"]
            ids = image_ids(H // u // 2, W // u // 2)
            txt = torch.zeros(e["max_sequence_length"], 3)
            sig = sigma_schedule(steps, shift)
            v0 = pipe.transformer(pack(noise), ctx, pooled, torch.full((len(prompts),), float(sig[0])), ids, txt)
        tensors = {"clip_ids": ci, "t5_ids": ti, "pooled": pooled.contiguous(), "context": ctx.contiguous(),
                   "noise": noise.contiguous(), "noise_packed": pack(noise).contiguous(),
                   "velocity0": v0.contiguous(), "sigmas": torch.from_numpy(sig), "image": img.contiguous()}
        os.makedirs(os.path.dirname(os.path.abspath(a.tensors)), exist_ok=True)
        save_file(tensors, a.tensors, metadata={"prompts": json.dumps(prompts), "seeds": json.dumps(seeds),
                                                "steps": str(steps), "shift": str(shift), "cfg": str(cfg)})
        print("wrote", a.tensors)


if __name__ == "__main__":
    main()
