#!/usr/bin/env python3
"""PyTorch side of the FLUX-step comparison in Scripts/gpu-check: one FLUX.1-sized transformer call, bf16, on CUDA.

Times the same shapes `easel bench-transformer` runs (random weights at FLUX.1-schnell's dimensions, 1024x1024 =
4096 image tokens, 512 text tokens, batch 1):
  * diffusers' FluxTransformer2DModel, when diffusers can be imported (eager, its default attention processor);
  * FluxMini (Training/easel-shapes/model.py) otherwise and always: our own PyTorch mirror of that module (the
    parity fixtures check it against diffusers), eager, with F.scaled_dot_product_attention.
Weights are made on the GPU (meta-device construction, then uniform init in place), so nothing large crosses PCIe.
Prints RESULT lines: `RESULT flux_step torch_<impl> WxH batch B ms M`.

  python3 Tools/bench/bench_flux_step.py [--width 1024 --height 1024 --text-tokens 512 --repeat 5]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Training", "easel-shapes"))

FLUX1 = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38,
             attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
             guidance_embeds=False, axes_dims_rope=[16, 56, 56])


def init_random(model, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                a = 1.0 / (p.shape[1] ** 0.5)
                p.uniform_(-a, a, generator=g)
            elif "norm" in name:
                p.uniform_(0.8, 1.2, generator=g)
            else:
                p.uniform_(-0.1, 0.1, generator=g)


def build(kind, cfg, device):
    with torch.device("meta"):
        if kind == "diffusers":
            from diffusers import FluxTransformer2DModel
            m = FluxTransformer2DModel(**{k: v for k, v in cfg.items()})
        else:
            from model import FluxMini
            m = FluxMini(**cfg)
    m = m.to_empty(device=device).to(torch.bfloat16).eval()
    init_random(m, 0, device)
    return m


def time_calls(fn, repeat, cuda):
    fn()
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--text-tokens", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--impl", choices=["auto", "diffusers", "mini"], default="auto")
    ap.add_argument("--smoke", action="store_true", help="CPU, one block of each kind at width 256: checks the script")
    args = ap.parse_args()
    cfg = dict(FLUX1)
    dev = "cpu" if args.smoke else "cuda"
    if args.smoke:
        cfg.update(num_layers=1, num_single_layers=1, num_attention_heads=2, joint_attention_dim=64)
    else:
        assert torch.cuda.is_available(), "needs a CUDA device"
    B, L = args.batch, args.text_tokens
    h, w = args.height // 16, args.width // 16
    S = h * w
    dt = torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(9)
    x = torch.randn(B, S, cfg["in_channels"], device=dev, dtype=dt, generator=g)
    ctx = torch.randn(B, L, cfg["joint_attention_dim"], device=dev, dtype=dt, generator=g)
    pooled = torch.randn(B, cfg["pooled_projection_dim"], device=dev, dtype=dt, generator=g)
    t = torch.full((B,), 0.5, device=dev, dtype=dt)
    img_ids = torch.zeros(h, w, 3, device=dev)
    img_ids[..., 1] = torch.arange(h, device=dev)[:, None]
    img_ids[..., 2] = torch.arange(w, device=dev)[None, :]
    img_ids = img_ids.reshape(S, 3)
    txt_ids = torch.zeros(L, 3, device=dev)
    name = torch.cuda.get_device_name() if dev == "cuda" else "CPU (smoke test)"
    print(f"torch {torch.__version__}, {name}; {S} image + {L} text tokens, batch {B}")

    impls = []
    if args.impl in ("auto", "diffusers"):
        try:
            import diffusers  # noqa: F401
            impls.append("diffusers")
        except Exception as e:  # diffusers is not on a bare GPU machine unless carried
            print(f"diffusers: not importable ({type(e).__name__}: {e}); timing FluxMini only")
    if args.impl in ("auto", "mini"):
        impls.append("mini")
    for kind in impls:
        t0 = time.time()
        m = build(kind, cfg, dev)
        n = sum(p.numel() for p in m.parameters())
        print(f"{kind}: {n / 1e9:.2f} B parameters, built in {time.time() - t0:.1f} s")
        with torch.inference_mode():
            if kind == "diffusers":
                fn = lambda: m(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t,  # noqa: E731
                               img_ids=img_ids, txt_ids=txt_ids, return_dict=False)
            else:
                fn = lambda: m(x, ctx, pooled, t, img_ids, txt_ids)  # noqa: E731
            times = time_calls(fn, args.repeat, dev == "cuda")
        med = times[len(times) // 2]
        print(f"RESULT flux_step torch_{kind} {args.width}x{args.height} batch {B} ms {med:.2f} "
              f"(min {times[0]:.2f}, max {times[-1]:.2f}, {len(times)} runs)")
        del m
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
