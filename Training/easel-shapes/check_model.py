#!/usr/bin/env python3
"""Check an easel-shapes model folder against diffusers + transformers (needs diffusers).

  python Training/easel-shapes/check_model.py Config/models/easel-shapes

1. diffusers FluxTransformer2DModel.from_pretrained(folder/transformer) loads the
   weights strictly and its outputs equal FluxMini (Training/easel-shapes/model.py)'s;
2. transformers PreTrainedTokenizerFast on tokenizer/ and tokenizer_2/ (padding to
   max_length as FluxPipeline asks) gives the ids of our `tokenizers` encoding;
3. diffusers FlowMatchEulerDiscreteScheduler from scheduler/ gives our sigmas;
4. diffusers FluxPipeline (vae=None, output_type="latent", given the packed initial
   noise) produces the same images as ShapesPipeline (Training/easel-shapes/model.py), with and
   without true CFG.
Prints max abs differences; exits 1 if any exceeds its tolerance.
"""
import argparse
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import (encode_ids, image_ids, initial_noise, load_folder, pack, sigma_schedule,  # noqa: E402
                   tokens_to_images)

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "Config", "models",
                                                              "easel-shapes"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import PreTrainedTokenizerFast

    failures = []

    def report(name, diff, tol):
        ok = diff <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {diff:.3g} (tolerance {tol:g})")
        if not ok:
            failures.append(name)

    pipe = load_folder(a.folder)
    e = pipe.easel
    L = e["max_sequence_length"]
    dt = FluxTransformer2DModel.from_pretrained(os.path.join(a.folder, "transformer"), torch_dtype=torch.float32)
    dt.eval()
    sd_ours = pipe.transformer.state_dict()
    sd_diff = dt.state_dict()
    if set(sd_ours) != set(sd_diff):
        print("key mismatch:", sorted(set(sd_ours) ^ set(sd_diff))[:10])
        failures.append("keys")
    report("transformer weights", max((sd_ours[k] - sd_diff[k]).abs().max().item() for k in sd_ours), 0)

    prompts = ["a small red circle in the top left corner on a blue background",
               "a large white triangle at the bottom on a black background",
               "A large purple square, in the center on a yellow background!", ""]
    # tokenizers
    for sub, ours in (("tokenizer", pipe.tok_clip), ("tokenizer_2", pipe.tok_t5)):
        ht = PreTrainedTokenizerFast.from_pretrained(os.path.join(a.folder, sub))
        hid = ht(prompts, padding="max_length", max_length=ht.model_max_length if sub == "tokenizer" else L,
                 truncation=True, return_tensors="pt").input_ids
        oid = encode_ids(ours, prompts)
        report(f"{sub} ids (transformers vs tokenizers)", float((hid != oid).sum()), 0)
    print("  clip ids:", encode_ids(pipe.tok_clip, prompts[:1])[0].tolist())
    print("  t5 ids:  ", encode_ids(pipe.tok_t5, prompts[:1])[0].tolist())

    # transformer forward on real text features and noisy inputs
    with torch.no_grad():
        pooled, ctx = pipe.encode(prompts)
        g = torch.Generator().manual_seed(0)
        H, W, u = e["height"], e["width"], e["pixel_unshuffle"]
        x = pack(torch.randn(len(prompts), 3 * u * u, H // u, W // u, generator=g))
        t = torch.tensor([0.05, 0.4, 0.75, 1.0])
        ids = image_ids(H // u // 2, W // u // 2)
        txt = torch.zeros(L, 3)
        ours = pipe.transformer(x, ctx, pooled, t, ids, txt)
        ref = dt(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t,
                 img_ids=ids, txt_ids=txt, return_dict=False)[0]
    report("transformer forward (ours vs diffusers)", (ours - ref).abs().max().item(), 1e-4)
    print(f"  (output magnitude: mean abs {ref.abs().mean().item():.3f})")

    # scheduler
    sch = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(a.folder, "scheduler"))
    n = e["default_steps"]
    sch.set_timesteps(sigmas=np.linspace(1.0, 1 / n, n), device="cpu", mu=0.0)
    report("scheduler sigmas", float(np.abs(sch.sigmas.numpy() - sigma_schedule(n, e["shift"])).max()), 1e-6)

    # whole pipeline through diffusers
    fp = FluxPipeline(scheduler=sch, vae=None, text_encoder=pipe.clip, tokenizer=PreTrainedTokenizerFast.from_pretrained(
        os.path.join(a.folder, "tokenizer")), text_encoder_2=pipe.t5,
        tokenizer_2=PreTrainedTokenizerFast.from_pretrained(os.path.join(a.folder, "tokenizer_2")),
        transformer=dt)
    fp.set_progress_bar_config(disable=True)
    seeds = [1, 2]
    noise = initial_noise(seeds, H, W, u)
    for cfg in sorted({1.0, float(e.get("true_cfg_scale", 1.0)), 2.5}):
        ours = pipe(prompts[:2], noise=noise, steps=n, cfg=cfg)
        kw = dict(negative_prompt=[""] * 2, true_cfg_scale=cfg) if cfg > 1 else {}
        with torch.no_grad():
            lat = fp(prompt=prompts[:2], height=H * 8 // u, width=W * 8 // u, num_inference_steps=n,
                     latents=pack(noise), max_sequence_length=L, output_type="latent", **kw).images
        ref = tokens_to_images(lat, H, W, u)
        report(f"FluxPipeline images, {n} steps, cfg {cfg} (ours vs diffusers)", (ours - ref).abs().max().item(), 1e-4)
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
