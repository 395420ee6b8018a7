"""CPU benchmark: `easel generate` against diffusers' FluxPipeline (PyTorch eager, f32) on the same
random-weight pipelines, sizes, steps, initial noise and thread count, in one run. Prints a table with ratios.

    Scripts/bench-cpu            # needs the venv with torch + diffusers + transformers (see Scripts/make-fixtures)

Both sides are timed for the generation call only (models already loaded), best of --repeats runs, with
the same thread count (torch.set_num_threads / easel --threads). Load times are printed separately. The
images are compared (PSNR) so a fast wrong answer cannot pass unnoticed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

def _load_tokenizer_builder():
    # Our fixture tokenizer builder is Tools/fixtures/tokenizers.py; load it by path, since the name
    # `tokenizers` is HF's library, which transformers has already imported.
    import importlib.util
    spec = importlib.util.spec_from_file_location("easel_fixture_tokenizers",
                                                  os.path.join(ROOT, "Tools", "fixtures", "tokenizers.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


easel_tokenizers = _load_tokenizer_builder()

# name: transformer width/heads/blocks, VAE blocks, image size, steps
SIZES = {
    "tiny": dict(heads=2, head_dim=16, double=1, single=2, rope=(4, 6, 6), vae=(8, 16), latent=4,
                 text=32, t5=32, width=64, height=48, steps=4),
    "mid": dict(heads=4, head_dim=128, double=4, single=8, rope=(16, 56, 56), vae=(32, 64, 64, 64), latent=16,
                text=256, t5=256, width=256, height=256, steps=4),
}


def tame(model, seed):
    """Random init that moves every layer (diffusers zero-inits some modulation/output layers)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif "norm" in name and "weight" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def build(name, spec, out):
    tok_dir = os.path.join(out, "tokenizer")
    tok2_dir = os.path.join(out, "tokenizer_2")
    easel_tokenizers.make_clip_tokenizer(tok_dir, "vocab_merges")
    easel_tokenizers.make_t5_tokenizer(tok2_dir)
    tok = CLIPTokenizer.from_pretrained(tok_dir)
    tok2 = T5TokenizerFast.from_pretrained(tok2_dir)
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=spec["text"], intermediate_size=spec["text"] * 4,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        hidden_act="quick_gelu", bos_token_id=tok.bos_token_id, eos_token_id=2,
                                        pad_token_id=tok.pad_token_id))
    t5 = T5EncoderModel(T5Config(vocab_size=len(tok2) + 8, d_model=spec["t5"], d_kv=spec["t5"] // 4, d_ff=spec["t5"] * 2,
                                 num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
                                 relative_attention_num_buckets=32, relative_attention_max_distance=128))
    nb = len(spec["vae"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=spec["latent"], block_out_channels=spec["vae"],
                        down_block_types=["DownEncoderBlock2D"] * nb, up_block_types=["UpDecoderBlock2D"] * nb,
                        layers_per_block=1, norm_num_groups=8, scaling_factor=0.3611, shift_factor=0.1159,
                        use_quant_conv=False, use_post_quant_conv=False)
    tr = FluxTransformer2DModel(in_channels=spec["latent"] * 4, num_layers=spec["double"], num_single_layers=spec["single"],
                                attention_head_dim=spec["head_dim"], num_attention_heads=spec["heads"],
                                joint_attention_dim=spec["t5"], pooled_projection_dim=spec["text"],
                                guidance_embeds=False, axes_dims_rope=spec["rope"])
    for i, m in enumerate([clip, t5, vae, tr]):
        tame(m, 100 + i)
    sched = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    pipe = FluxPipeline(scheduler=sched, vae=vae, text_encoder=clip, tokenizer=tok, text_encoder_2=t5, tokenizer_2=tok2,
                        transformer=tr)
    pipe.save_pretrained(out, safe_serialization=True)
    # keep our tokenizer files exactly as built (save_pretrained may re-serialise them)
    easel_tokenizers.make_clip_tokenizer(tok_dir, "vocab_merges")
    easel_tokenizers.make_t5_tokenizer(tok2_dir)
    with open(os.path.join(out, "easel.json"), "w") as f:
        json.dump({"max_sequence_length": 64}, f)
    return pipe


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def bench_shapes(args):
    """The bundled default model at its defaults (64x64, 8 steps, true CFG 2.5 = 16 transformer passes) through
    easel against the PyTorch sampler it was trained with (Training/easel-shapes/model.py, the same FLUX modules in
    eager f32), same prompt, same thread count. Noise differs (each side's own generator), so PSNR is not comparable."""
    sys.path.insert(0, os.path.join(ROOT, "Training", "easel-shapes"))
    from model import load_folder
    folder = os.path.join(ROOT, "Config", "models", "easel-shapes")
    prompt = "a large green triangle in the bottom left corner on a white background"
    t0 = time.perf_counter()
    pipe = load_folder(folder)
    torch_load = time.perf_counter() - t0
    times = []
    with torch.inference_mode():
        for _ in range(args.repeats + 1):
            t0 = time.perf_counter()
            pipe([prompt], seeds=[1])
            times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.easel, "generate", "--model", folder, "--prompt", prompt, "--seed", "1", "--threads", str(args.threads),
               "--repeat", str(args.repeats), "--out", os.path.join(tmp, "x.png")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"easel failed: {res.stderr}")
    m = re.search(r"load ([0-9.]+) s, generate best ([0-9.]+) s", res.stderr)
    spec = dict(width=64, height=64, steps="8+cfg")
    return ("shapes", spec, min(times[1:]), float(m.group(2)), torch_load, float(m.group(1)), float("nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--easel", default=os.path.join(ROOT, ".build", "release", "easel"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="shapes,tiny,mid",
                    help="shapes = the bundled easel-shapes model at its defaults against its PyTorch sampler")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prompt = "a photo of a red fox sitting in the snow"
    rows = []
    for name in args.sizes.split(","):
        if name == "shapes":
            rows.append(bench_shapes(args))
            continue
        spec = SIZES[name]
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, name)
            t0 = time.perf_counter()
            pipe = build(name, spec, folder)
            t0 = time.perf_counter()
            pipe = FluxPipeline.from_pretrained(folder, torch_dtype=torch.float32)
            torch_load = time.perf_counter() - t0
            scale = 2 ** (len(spec["vae"]) - 1)
            h, w = spec["height"] // scale, spec["width"] // scale
            lat = torch.randn(1, (h // 2) * (w // 2), spec["latent"] * 4, generator=torch.Generator().manual_seed(7))
            lat_path = os.path.join(tmp, "latents.safetensors")
            save_file({"latents": lat.contiguous()}, lat_path)
            kw = dict(prompt=prompt, height=spec["height"], width=spec["width"], num_inference_steps=spec["steps"],
                      guidance_scale=0.0, max_sequence_length=64, output_type="np")
            torch_times = []
            with torch.inference_mode():
                for _ in range(args.repeats + 1):
                    t0 = time.perf_counter()
                    ref = pipe(latents=lat.clone(), **kw).images[0]
                    torch_times.append(time.perf_counter() - t0)
            torch_best = min(torch_times[1:])  # first call warms up
            png = os.path.join(tmp, "out.png")
            cmd = [args.easel, "generate", "--model", folder, "--prompt", prompt, "--width", str(spec["width"]),
                   "--height", str(spec["height"]), "--steps", str(spec["steps"]), "--guidance", "0",
                   "--latents", lat_path, "--threads", str(args.threads), "--repeat", str(args.repeats),
                   "--out", png, "--dump-raw", os.path.join(tmp, "raw.safetensors")]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"easel failed: {res.stderr}")
            m = re.search(r"load ([0-9.]+) s, generate best ([0-9.]+) s", res.stderr)
            easel_load, easel_best = float(m.group(1)), float(m.group(2))
            from safetensors.numpy import load_file
            raw = load_file(os.path.join(tmp, "raw.safetensors"))["images"][0].transpose(1, 2, 0)
            rows.append((name, spec, torch_best, easel_best, torch_load, easel_load, psnr(raw, ref)))
    print()
    print(f"CPU benchmark, {args.threads} threads, f32, best of {args.repeats} (after one warm-up for torch)")
    print(f"{'pipeline':8} {'size':>9} {'steps':>5} {'diffusers s':>12} {'easel s':>9} {'speed-up':>9} {'load torch/easel s':>19} {'PSNR dB':>8}")
    for name, spec, tb, eb, tl, el, p in rows:
        print(f"{name:8} {spec['width']:>4}x{spec['height']:<4} {str(spec['steps']):>5} {tb:>12.4f} {eb:>9.4f} {tb / eb:>8.2f}x"
              f" {tl:>9.2f}/{el:<9.2f} {p:>8.1f}")


if __name__ == "__main__":
    main()
