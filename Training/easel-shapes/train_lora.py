#!/usr/bin/env python3
"""Train a LoRA for the shipped easel-shapes model that draws the shapes as outlines.

The base model (Config/models/easel-shapes) only ever saw filled shapes.  This script
loads it (model.load_folder), freezes every weight, adds rank-r LoRA updates
(y = W x + (alpha / r) B A x, B zero-initialised) to the transformer's Linears in the
double and single blocks, and trains them alone with the base model's recipe:
rectified flow x_t = (1-t) x0 + t noise, velocity target noise - x0, logit-normal(0,1) t,
caption dropout 0.1 to the empty prompt (so true CFG keeps working), the same prompt
wordings (canonical + variants, world.PROMPT_VARIANT_WEIGHTS) on the TRAINING
combinations only (world.split; the held-out ones stay unseen), images rendered by
world.py with style="outline" at 64x64.  No trigger word: the LoRA is the style.

The text encoders are frozen, so every prompt's (pooled, context) is computed once up front.

Writes a safetensors file in the diffusers/PEFT key form the Swift loader reads
(`transformer.<module>.lora_A.weight` [r, in], `.lora_B.weight` [out, r], f16), with
alpha in the `lora_adapter_metadata` header JSON as diffusers writes it
({"transformer.r": r, "transformer.lora_alpha": alpha, ...}), plus the command, torch
version, steps, seed and timing in the header metadata.

The shipped Config/loras/easel-shapes-outline.safetensors came from (2 cores, 29.5 minutes, 1248 steps):

  python3 Training/easel-shapes/train_lora.py --steps 1300 --rank 16 --lr 2e-3 --modulation \\
      --max-minutes 29.5 --probe-every 325 --out Config/loras/easel-shapes-outline.safetensors

--steps fixes the schedule (with --seed the run is repeatable step for step on the same torch build);
--max-minutes cut that run at step 1248, so `--steps 1300 --stop-after 1248 --max-minutes 0` repeats it
on any machine.
--probe-combos N samples N held-out combinations at the end with the PyTorch sampler
(model defaults: 8 steps, shift 3, true CFG 2.5) with and without the LoRA and prints
the analyzer's outline share and accuracy (not counted in the training wall time).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time

T_START = time.time()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analyzer as SA  # noqa: E402
import world as W  # noqa: E402
from model import encode_ids, encode_text, image_ids, images_to_tokens, load_folder  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# Linears of the blocks that get a LoRA (the suffix after "transformer_blocks.N." / "single_transformer_blocks.N.").
DOUBLE_TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
                  "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj",
                  "ff_context.net.2"]
SINGLE_TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp", "proj_out"]
EXTRA_TARGETS = ["norm1.linear", "norm1_context.linear"]  # adaLN modulation (with --modulation)
SINGLE_EXTRA = ["norm.linear"]


def log(*a):
    print(f"[{time.time() - T_START:7.1f}s]", *a, flush=True)


class LoRALinear(nn.Module):
    """A frozen Linear plus (alpha / r) * B A x; A is [r, in] (PEFT's lora_A), B is [out, r] (lora_B)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, gen: torch.Generator):
        super().__init__()
        self.base = base
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        a = torch.empty(r, base.in_features)
        bound = 1.0 / math.sqrt(base.in_features)  # PEFT's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), ..)
        a.uniform_(-bound, bound, generator=gen)
        self.lora_A = nn.Parameter(a)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)


def _get(root, path):
    m = root
    for p in path.split("."):
        m = m[int(p)] if p.isdigit() else getattr(m, p)
    return m


def _set(root, path, new):
    parent, leaf = path.rsplit(".", 1)
    p = _get(root, parent)
    if leaf.isdigit():
        p[int(leaf)] = new
    else:
        setattr(p, leaf, new)


def add_lora(model, r, alpha, gen, modulation=False):
    """Wrap the target Linears; returns {module name (as in the transformer's safetensors keys): LoRALinear}."""
    names = []
    for i in range(len(model.transformer_blocks)):
        names += [f"transformer_blocks.{i}.{s}" for s in DOUBLE_TARGETS + (EXTRA_TARGETS if modulation else [])]
    for i in range(len(model.single_transformer_blocks)):
        names += [f"single_transformer_blocks.{i}.{s}" for s in SINGLE_TARGETS + (SINGLE_EXTRA if modulation else [])]
    keys = set(k[:-len(".weight")] for k in model.state_dict() if k.endswith(".weight"))
    out = {}
    for n in names:
        assert n in keys, n
        lin = _get(model, n)
        assert isinstance(lin, nn.Linear), n
        w = LoRALinear(lin, r, alpha, gen)
        _set(model, n, w)
        out[n] = w
    return out


def lora_state_dict(loras, dtype=torch.float16):
    sd = {}
    for n, m in loras.items():
        sd[f"transformer.{n}.lora_A.weight"] = m.lora_A.detach().to("cpu", dtype).contiguous()
        sd[f"transformer.{n}.lora_B.weight"] = m.lora_B.detach().to("cpu", dtype).contiguous()
    return sd


def set_lora_scale(loras, mult, r_alpha):
    for m in loras.values():
        m.scale = mult * r_alpha


# --------------------------------------------------------------------------- probe (PyTorch sampler)

def probe(pipe, tuples, seeds, style_want):
    """Sample the canonical prompts at the model defaults; (scores, outline share, uint8 images)."""
    prompts, tups, sd = [], [], []
    for t in tuples:
        for s in seeds:
            prompts.append(W.canonical_prompt(t))
            tups.append(t)
            sd.append(s)
    with torch.no_grad():
        img = pipe(prompts, seeds=sd, batch_size=64)
    u8 = W.to_uint8(img)
    res = [SA.analyze(im) for im in u8]
    sc = SA.score(res, tups)
    return sc, SA.outline_share(res), u8


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "Config", "models", "easel-shapes"))
    ap.add_argument("--out", default=os.path.join(REPO, "Config", "loras", "easel-shapes-outline.safetensors"))
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=None, help="default = rank (update scale 1)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--min-lr-frac", type=float, default=0.1, help="cosine decay to this fraction of --lr")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--cfg-dropout", type=float, default=0.1)
    ap.add_argument("--modulation", action="store_true", help="also LoRA the adaLN modulation Linears")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--max-minutes", type=float, default=30.0,
                    help="stop training (and say so) if the training loop passes this wall time (0: no limit)")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="stop after this many steps of the --steps schedule (to repeat a run that --max-minutes cut"
                         " short, step for step)")
    ap.add_argument("--probe-combos", type=int, default=36, help="held-out combinations sampled at the end (0: none)")
    ap.add_argument("--probe-png", default=None, help="write a mosaic of the probe's LoRA samples here")
    ap.add_argument("--probe-every", type=int, default=0,
                    help="also probe (LoRA scale 1, current weights, 1 seed) every N steps; excluded from the"
                         " training wall time")
    args = ap.parse_args(argv)
    alpha = float(args.alpha if args.alpha is not None else args.rank)

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    pipe = load_folder(args.model, "cpu")
    model, clip, t5 = pipe.transformer, pipe.clip, pipe.t5
    for m in (model, clip, t5):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    e = pipe.easel
    H, Wd, u, L = e["height"], e["width"], e["pixel_unshuffle"], e["max_sequence_length"]

    train_t, held_t = W.split(args.split_seed)
    table = W.TupleTable(train_t)
    # every (training combination, wording) through the frozen text encoders, once
    V = W.NUM_PROMPT_VARIANTS
    prompts = [W.prompt_variant(t, v) for t in train_t for v in range(V)]
    with torch.no_grad():
        pooled_all, ctx_all = [], []
        for i in range(0, len(prompts), 512):
            pr = prompts[i:i + 512]
            ci, ti = encode_ids(pipe.tok_clip, pr), encode_ids(pipe.tok_t5, pr)
            assert not (ci == 2).any() and not (ti == 2).any(), "unknown word in a training prompt"
            p_, c_ = encode_text(clip, t5, ci, ti)
            pooled_all.append(p_)
            ctx_all.append(c_)
        pooled_all = torch.cat(pooled_all).view(len(train_t), V, -1)
        ctx_all = torch.cat(ctx_all).view(len(train_t), V, L, -1)
        e_pooled, e_ctx = encode_text(clip, t5, encode_ids(pipe.tok_clip, [""]), encode_ids(pipe.tok_t5, [""]))
    weights = torch.tensor(W.PROMPT_VARIANT_WEIGHTS)
    log(f"world {W.WORLD_VERSION}: {len(train_t)} training / {len(held_t)} held-out combinations; "
        f"{len(prompts)} training prompts encoded")

    loras = add_lora(model, args.rank, alpha, gen, modulation=args.modulation)
    params = [p for m in loras.values() for p in (m.lora_A, m.lora_B)]
    n_params = sum(p.numel() for p in params)
    log(f"LoRA rank {args.rank}, alpha {alpha:g} on {len(loras)} Linears: {n_params} parameters "
        f"({2 * n_params / 1024:.0f} KiB in f16)")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=args.weight_decay)
    ids = image_ids(H // u // 2, Wd // u // 2)
    txt = torch.zeros(L, 3)

    def lr_at(s):
        if s < args.warmup:
            return args.lr * (s + 1) / args.warmup
        p = min(1.0, (s - args.warmup) / max(1, args.steps - args.warmup))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    probe_t = [held_t[i * len(held_t) // args.probe_combos] for i in range(min(args.probe_combos, len(held_t)))] \
        if args.probe_combos else held_t[:36]
    probes = []

    model.train()
    curve = []
    acc, n_acc = 0.0, 0
    t0 = time.time()
    step = 0
    stopped = False
    last = min(args.steps, args.stop_after) if args.stop_after else args.steps
    while step < last:
        if args.max_minutes > 0 and time.time() - t0 > args.max_minutes * 60:
            stopped = True
            log(f"stopping at step {step}: the training loop passed {args.max_minutes} minutes")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        b = args.batch
        with torch.no_grad():
            idx = torch.randint(0, len(table), (b,), generator=gen)
            img = table.render(idx, H, Wd, gen=gen, style="outline")
            x0 = images_to_tokens(img, u)
            v = torch.multinomial(weights.expand(b, -1), 1, generator=gen)[:, 0]
            pooled, ctx = pooled_all[idx, v], ctx_all[idx, v]
            drop = torch.rand(b, generator=gen) < args.cfg_dropout
            pooled = torch.where(drop[:, None], e_pooled, pooled)
            ctx = torch.where(drop[:, None, None], e_ctx, ctx)
            noise = torch.randn(x0.shape, generator=gen)
            t = torch.sigmoid(torch.randn(b, generator=gen))
            xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
            target = noise - x0
        pred = model(xt, ctx, pooled, t, ids, txt)
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        acc += loss.item()
        n_acc += 1
        step += 1
        if step % args.log_every == 0 or step == args.steps:
            el = time.time() - t0
            curve.append((step, acc / n_acc, el, lr_at(step - 1)))
            log(f"step {step}/{args.steps} loss {acc / n_acc:.4f} lr {lr_at(step - 1):.2e} "
                f"{step * b / el:.1f} samples/s, {el:.0f} s")
            acc, n_acc = 0.0, 0
        if args.probe_every and step % args.probe_every == 0 and step < args.steps:
            tp = time.time()
            model.eval()
            sc, share, _ = probe(pipe, probe_t, [1000], True)
            model.train()
            probes.append((step, share, sc))
            log(f"probe at step {step}: outline {100 * share:.1f}%  {SA.format_scores(sc)}  [{time.time() - tp:.0f}s]")
            t0 += time.time() - tp  # not training time
    train_s = time.time() - t0
    model.eval()
    log(f"trained {step} steps x batch {args.batch} = {step * args.batch} samples in {train_s:.1f} s "
        f"({step * args.batch / train_s:.1f} samples/s)" + (" (stopped by --max-minutes)" if stopped else ""))

    # --- write the file
    from safetensors.torch import save_file
    sd = lora_state_dict(loras)
    cmd = "python3 Training/easel-shapes/train_lora.py " + " ".join(sys.argv[1:] if argv is None else argv)
    adapter = {"transformer.r": args.rank, "transformer.lora_alpha": alpha,
               "transformer.target_modules": sorted(loras), "transformer.init_lora_weights": True}
    meta = {
        "format": "pt",
        "lora_adapter_metadata": json.dumps(adapter),
        "easel.base_model": "easel-shapes",
        "easel.world_version": W.WORLD_VERSION,
        "easel.style": "outline",
        "easel.command": cmd,
        "easel.torch_version": torch.__version__,
        "easel.steps": str(step),
        "easel.schedule_steps": str(args.steps),
        "easel.stopped_by_time": "true" if stopped else "false",
        "easel.batch": str(args.batch),
        "easel.seed": str(args.seed),
        "easel.split_seed": str(args.split_seed),
        "easel.rank": str(args.rank),
        "easel.alpha": f"{alpha:g}",
        "easel.lr": f"{args.lr:g}",
        "easel.train_seconds": f"{train_s:.1f}",
        "easel.machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
                         f"{torch.get_num_threads()} torch threads".replace("  ", " "),
        "easel.date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "easel.final_loss": f"{curve[-1][1]:.5f}" if curve else "",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(sd, args.out, metadata=meta)
    log(f"wrote {args.out}: {len(sd)} tensors, {os.path.getsize(args.out)} bytes")
    with open(os.path.splitext(args.out)[0] + ".train.json", "w") as f:
        json.dump({"command": cmd, "metadata": meta, "curve": curve,
                   "probes": [(s_, sh, sc) for s_, sh, sc in probes]}, f, indent=1)

    # --- probe: the shipped (f16-rounded) weights in the PyTorch sampler, held-out combinations
    if args.probe_combos:
        with torch.no_grad():
            for m in loras.values():
                m.lora_A.copy_(m.lora_A.half().float())
                m.lora_B.copy_(m.lora_B.half().float())
        t1 = time.time()
        sc, share, u8 = probe(pipe, probe_t, [1000], True)
        log(f"probe, LoRA scale 1 ({len(probe_t)} held-out x 1 seed, PyTorch sampler, defaults): "
            f"outline {100 * share:.1f}%  {SA.format_scores(sc)}  [{time.time() - t1:.0f}s]")
        if args.probe_png:
            W.write_png(args.probe_png, W.grid(list(u8[:48]), 8))
        set_lora_scale(loras, 0.0, 1.0)
        sc0, share0, _ = probe(pipe, probe_t, [1000], False)
        log(f"probe, LoRA scale 0 (= base model): outline {100 * share0:.1f}%  {SA.format_scores(sc0)}")
    log(f"done; training {train_s:.1f} s, whole script {time.time() - T_START:.1f} s")


if __name__ == "__main__":
    main()
