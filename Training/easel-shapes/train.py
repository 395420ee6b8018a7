#!/usr/bin/env python3
"""Train Easel's bundled tiny FLUX-architecture model on the shapes world.

Rectified flow as FLUX trains it: x_t = (1-t) x0 + t noise, the transformer
predicts the velocity noise - x0, t ~ logit-normal(0, 1).  Pixel space: a 64x64
RGB image in [-1,1] is pixel-unshuffled by 2 to [12,32,32] and packed like
FluxPipeline packs latents (256 tokens of 48 channels).  The CLIP and T5 text
encoders are trained jointly from scratch; 10% of captions are dropped to the
empty prompt for true classifier-free guidance.

Needs torch, transformers, tokenizers, safetensors, numpy (NOT diffusers).

  python3 Training/easel-shapes/train.py --device cuda --minutes 6 --out OUT/easel-shapes

--minutes is the whole wall-clock budget of the script (from its start):
training stops --eval-reserve seconds before it, then the model folder is written,
then the sampler/analyzer evaluation picks the default steps / shift / CFG scale
on held-out combinations and the folder's easel.json, scheduler config and
README.md are rewritten with them.  The number of optimizer steps is fixed from a
throughput measurement early in the run (or given with --steps, which makes a
run reproducible step for step: seed, config and WORLD_VERSION are recorded).
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
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analyzer as SA  # noqa: E402
import world as W  # noqa: E402
from model import (easel_file, DEFAULT_TRANSFORMER_CONFIG, FluxMini, ShapesPipeline, build_text_encoders,  # noqa: E402
                   build_tokenizer, build_vocab, encode_ids, encode_text, image_ids,
                   images_to_tokens, save_folder, scheduler_config, transformer_flops)


def log(*a):
    print(f"[{time.time() - T_START:7.1f}s]", *a, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--minutes", type=float, default=6.0, help="whole-script wall budget")
    ap.add_argument("--eval-reserve", type=float, default=None,
                    help="seconds kept for save+eval at the end (default 75 cuda, 25%% cpu)")
    ap.add_argument("--steps", type=int, default=None, help="fix the number of optimizer steps")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=None, help="default 512 cuda, 8 cpu")
    ap.add_argument("--lr", type=float, default=8e-4)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--cfg-dropout", type=float, default=0.1)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--pre-size", type=int, default=None,
                    help="progressive resolution: train first at this native size (e.g. 32), with the image tokens'"
                         " RoPE positions scaled to the final --size grid (a token there stands for (size/pre-size)^2"
                         " final tokens, at their centre), then switch to --size; see --pre-steps / --pre-minutes")
    ap.add_argument("--pre-steps", type=int, default=None, help="optimizer steps at --pre-size")
    ap.add_argument("--pre-minutes", type=float, default=None, help="training minutes at --pre-size")
    ap.add_argument("--unshuffle", type=int, default=2,
                    help="pixel_unshuffle factor before FLUX's 2x2 packing: (size / (2 u))^2 image tokens of 12 u^2"
                         " channels (2: 256 tokens at 64 px; 4: 64 tokens, about 4x less compute per sample). The"
                         " velocity target carries the full noise, so 12 u^2 must not exceed --width: u = 4 (192"
                         " channels) at width 128 cannot fit it and plateaus near the 1/3 floor (measured: loss"
                         " 0.39 after 2650 steps of 64 on the CPU)")
    ap.add_argument("--width", type=int, default=128, help="transformer width (heads x 32)")
    ap.add_argument("--double", type=int, default=2)
    ap.add_argument("--single", type=int, default=4)
    ap.add_argument("--text-width", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=16, help="token length of both text encoders")
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto", help="bf16 autocast")
    ap.add_argument("--predict", choices=["velocity", "sample"], default="velocity",
                    help="what the transformer outputs: the velocity (FLUX), or the clean sample x0, turned into the"
                         " velocity (x_t - x0) / max(t, 0.05) for the same loss; x0 lies on a low-dimensional"
                         " manifold, so tokens wider than the model (--unshuffle 4) stay learnable (easel.json"
                         " 'prediction': 'sample', which the Swift engine runs)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--log-every", type=int, default=None)
    ap.add_argument("--grid", default=None,
                    help="eval grid 'steps,..:shift,..:cfg,..' (default 8,12:1,2,3:1,2.5 cuda; 8:2:1,2.5 cpu)")
    ap.add_argument("--select-seeds", type=int, default=2, help="noise seeds per held-out combo for selection")
    ap.add_argument("--eval-seeds", type=int, default=4, help="noise seeds per held-out combo for the report")
    ap.add_argument("--eval-limit", type=int, default=None, help="use only N held-out combos (cpu tests)")
    ap.add_argument("--probe-every", type=float, default=None,
                    help="every this many seconds of training, score the EMA weights on --probe-combos held-out"
                         " combinations (1 seed, 8 steps, shift 2, no CFG) and log it: accuracy against samples"
                         " seen, for the README (default 600 cpu, 0 = off on cuda)")
    ap.add_argument("--probe-steps", type=int, default=0,
                    help="also probe every N optimizer steps (for runs whose wall time says little, e.g. several"
                         " sharing a GPU)")
    ap.add_argument("--probe-combos", type=int, default=36, help="held-out combinations per probe")
    ap.add_argument("--debug-nan-step", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=None, help="analyzer processes")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- data

class PromptTable:
    """Token ids of every (train tuple, wording variant) for both tokenizers, on the device."""

    def __init__(self, tuples, vocab, max_len, device):
        tc, tt = build_tokenizer(vocab, max_len, "clip"), build_tokenizer(vocab, max_len, "t5")
        prompts = [W.prompt_variant(t, v) for t in tuples for v in range(W.NUM_PROMPT_VARIANTS)]
        for p in prompts:  # nothing may be truncated or unknown
            e = tc.encode(p)
            assert 2 not in e.ids, p
            assert len(p.split()) + 2 <= max_len, p
        V = W.NUM_PROMPT_VARIANTS
        self.clip = encode_ids(tc, prompts).view(len(tuples), V, max_len).to(device)
        self.t5 = encode_ids(tt, prompts).view(len(tuples), V, max_len).to(device)
        self.empty_clip = encode_ids(tc, [""]).to(device)[0]
        self.empty_t5 = encode_ids(tt, [""]).to(device)[0]
        self.weights = torch.tensor(W.PROMPT_VARIANT_WEIGHTS, device=device)
        self.longest = max(len(p.split()) for p in prompts)

    def sample(self, idx, gen, drop_p):
        b = idx.shape[0]
        v = torch.multinomial(self.weights.expand(b, -1), 1, generator=gen)[:, 0]
        ci, ti = self.clip[idx, v], self.t5[idx, v]
        if drop_p > 0:
            drop = torch.rand(b, device=idx.device, generator=gen) < drop_p
            ci = torch.where(drop[:, None], self.empty_clip[None], ci)
            ti = torch.where(drop[:, None], self.empty_t5[None], ti)
        return ci, ti


# --------------------------------------------------------------------------- eval

def _analyze_many(imgs, workers):
    if workers and workers > 1 and len(imgs) >= 64:
        import multiprocessing as mp
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                r = pool.map_async(SA.analyze, list(imgs), chunksize=max(1, len(imgs) // (workers * 4)))
                return r.get(timeout=60 + len(imgs) * 0.01)
        except Exception as e:  # pragma: no cover
            log("analyzer pool failed, running serially:", e)
    return [SA.analyze(im) for im in imgs]


def evaluate(pipe, tuples, seeds, steps, shift, cfg, workers, autocast):
    prompts, tups, nseeds = [], [], []
    for s in seeds:
        for i, t in enumerate(tuples):
            prompts.append(W.canonical_prompt(t))
            tups.append(t)
            nseeds.append(100003 * s + i)
    img = pipe(prompts, seeds=nseeds, steps=steps, shift=shift, cfg=cfg, batch_size=1024,
               autocast=autocast)
    u8 = W.to_uint8(img)
    res = _analyze_many(u8, workers)
    return SA.score(res, tups), u8


def parse_grid(s):
    a, b, c = s.split(":")
    return [(int(x), float(y), float(z)) for x in a.split(",") for y in b.split(",") for z in c.split(",")]


# --------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    if not cuda:
        torch.set_flush_denormal(True)
    batch = args.batch or (512 if cuda else 8)
    amp = (args.amp == "on") or (args.amp == "auto" and cuda)
    reserve = args.eval_reserve if args.eval_reserve is not None else (75.0 if cuda else 0.25 * args.minutes * 60)
    deadline = T_START + args.minutes * 60 - reserve
    workers = args.workers if args.workers is not None else (min(16, os.cpu_count() or 1) if cuda else 1)
    grid = parse_grid(args.grid or ("8,12:1,2,3:1,2.5" if cuda else "8:2:1,2.5"))
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    train_t, held_t = W.split(args.split_seed)
    vocab = build_vocab(W.vocabulary())
    L = args.max_len
    prompts = PromptTable(train_t, vocab, L, dev)
    table = W.TupleTable(train_t, device=dev)
    log(f"world {W.WORLD_VERSION}: {len(train_t)} train / {len(held_t)} held-out tuples; vocab {len(vocab)};"
        f" longest prompt {prompts.longest} words")

    tcfg = dict(DEFAULT_TRANSFORMER_CONFIG)
    tcfg.update(num_attention_heads=args.width // 32, attention_head_dim=32, num_layers=args.double,
                num_single_layers=args.single, joint_attention_dim=args.text_width,
                pooled_projection_dim=args.text_width, in_channels=12 * args.unshuffle ** 2)
    model = FluxMini(**tcfg)
    model.zero_init()
    clip, t5 = build_text_encoders(len(vocab), L,
                                   clip_cfg=dict(hidden_size=args.text_width, intermediate_size=2 * args.text_width,
                                                 num_attention_heads=args.text_width // 32,
                                                 projection_dim=args.text_width),
                                   t5_cfg=dict(d_model=args.text_width, d_ff=2 * args.text_width,
                                               num_heads=args.text_width // 32))
    for m in (model, clip, t5):
        m.to(dev).train()
    n_tr = sum(p.numel() for p in model.parameters())
    n_te = sum(p.numel() for m in (clip, t5) for p in m.parameters())
    gflop = transformer_flops(tcfg, (args.size // (2 * args.unshuffle)) ** 2, L) / 1e9
    log(f"transformer {n_tr / 1e6:.2f} M params ({gflop:.2f} GFLOP/forward/image), text encoders {n_te / 1e6:.2f} M;"
        f" device {dev} amp={amp} batch {batch}")

    params = [p for m in (model, clip, t5) for p in m.parameters()]
    ema = [p.detach().clone().float() for p in params]
    decay_groups = [p for p in params if p.ndim >= 2]
    other = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay_groups, "weight_decay": args.weight_decay},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8, fused=cuda)

    grid_hw = args.size // (2 * args.unshuffle)
    ids = image_ids(grid_hw, grid_hw, dev)
    pre = args.pre_size is not None and (args.pre_steps or args.pre_minutes)
    if args.pre_size is not None and not pre:
        raise SystemExit("--pre-size needs --pre-steps or --pre-minutes")
    if pre:
        pre_hw = args.pre_size // (2 * args.unshuffle)
        if args.size % args.pre_size or pre_hw < 1:
            raise SystemExit("--size must be a multiple of --pre-size")
        r = args.size / args.pre_size
        pre_ids = image_ids(pre_hw, pre_hw, dev)
        pre_ids[:, 1:] = pre_ids[:, 1:] * r + (r - 1) / 2  # the centre of the final-grid tokens it covers
    phase = {"size": args.pre_size if pre else args.size, "ids": pre_ids if pre else ids, "start": 0}
    txt = torch.zeros(L, 3, device=dev)
    fwd = model
    if args.compile:
        fwd = torch.compile(model)

    def train_step(idx):
        with torch.no_grad():
            img = table.render(idx, phase["size"], phase["size"], gen=gen)
            x0 = images_to_tokens(img, args.unshuffle)
            ci, ti = prompts.sample(idx, gen, args.cfg_dropout)
            noise = torch.randn(x0.shape, device=dev, generator=gen)
            t = torch.sigmoid(torch.randn(idx.shape[0], device=dev, generator=gen))
            xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
            target = noise - x0
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            pooled, ctx = encode_text(clip, t5, ci, ti)
            v = fwd(xt, ctx, pooled, t, phase["ids"], txt)
        if args.predict == "sample":
            v = (xt - v.float()) / t.clamp(min=0.05)[:, None, None]
        return F.mse_loss(v.float(), target)

    probe_every = args.probe_every if args.probe_every is not None else (0.0 if cuda else 600.0)
    probe_set = [held_t[i * len(held_t) // args.probe_combos] for i in range(min(args.probe_combos, len(held_t)))]
    probes = []  # (step, samples, training seconds, scores)
    probe_s = [0.0]
    # the sampler settings of the folder (the defaults it ships with are added after the evaluation)
    easel = {"latent_space": "pixels", "pixel_unshuffle": args.unshuffle, "max_sequence_length": L,
             "clip_max_length": L, "width": args.size, "height": args.size, "world_version": W.WORLD_VERSION,
             "prediction": args.predict}
    tok_c, tok_t = build_tokenizer(vocab, L, "clip"), build_tokenizer(vocab, L, "t5")

    def use_ema():
        """Put the EMA weights, rounded to the shipped f16, into the modules (in f32) and set eval mode."""
        with torch.no_grad():
            for p, e in zip(params, ema):
                p.copy_(e.half().float())
        for m in (model, clip, t5):
            m.eval()

    def probe(at_step):
        """Score the current EMA weights (f16-rounded, as shipped) on probe_set; the training weights are put back."""
        t0 = time.time()
        with torch.no_grad():
            saved = [p.detach().clone() for p in params]
        use_ema()
        sc, _ = evaluate(ShapesPipeline(model, clip, t5, tok_c, tok_t, easel, str(dev)), probe_set, [7], 8, 2.0, 1.0,
                         workers, amp)
        with torch.no_grad():
            for p, q in zip(params, saved):
                p.copy_(q)
        for m in (model, clip, t5):
            m.train()
        dt = time.time() - t0
        probe_s[0] += dt
        probes.append((at_step, at_step * batch, time.time() - t_train0, sc))
        log(f"probe at step {at_step} ({at_step * batch} samples, {dt:.1f} s): {SA.format_scores(sc)}")

    total = args.steps
    warm = args.warmup
    log_every = args.log_every or (100 if cuda else 5)
    curve = []  # (step, mean loss, elapsed s, lr)
    acc_loss, acc_n = 0.0, 0
    step = 0
    rate_mark = None
    t_train0 = time.time()

    def lr_at(s):
        if s < warm:
            return args.lr * (s + 1) / warm
        if total is None or (pre and phase["start"] == 0):
            return args.lr  # constant while the length is unknown and through the low-resolution phase
        c0 = max(warm, phase["start"])
        p = min(1.0, (s - c0) / max(1, total - c0))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    stopped_early = False
    args.warmup_used = warm
    n_bad, lr_mult = 0, 1.0
    with torch.no_grad():
        snap_p = [p.detach().clone() for p in params]
        snap_e = [e.clone() for e in ema]
    snap_step = 0
    while True:
        if total is not None and step >= total:
            break
        if time.time() > deadline:
            stopped_early = total is None or step < total
            break
        if pre and phase["start"] == 0 and ((args.pre_steps is not None and step >= args.pre_steps) or (
                args.pre_minutes is not None and time.time() - t_train0 >= args.pre_minutes * 60)):
            phase.update(size=args.size, ids=ids, start=step)
            args.pre_steps_used = step
            log(f"step {step}: switching from {args.pre_size}x{args.pre_size} to {args.size}x{args.size}")
        # fix the step count from the measured throughput (steps 10..40 on cuda, 3..10 on cpu) of the final phase
        m0, m1 = (10, 40) if cuda else (3, 10)
        final_phase = not pre or phase["start"] > 0
        if total is None and final_phase and step - phase["start"] == m0:
            if cuda:
                torch.cuda.synchronize()
            rate_mark = time.time()
        if total is None and final_phase and step - phase["start"] == m1:
            if cuda:
                torch.cuda.synchronize()
            per = (time.time() - rate_mark) / (m1 - m0)
            total = step + int(max(0.0, deadline - time.time()) / per * 0.97)
            if warm * 5 > total:
                warm = max(1, total // 10)
            args.warmup_used = warm
            log(f"{per * 1000:.1f} ms/step ({batch / per:.0f} samples/s) -> {total} steps in the budget,"
                f" warmup {warm}")
        for g in opt.param_groups:
            g["lr"] = lr_at(step) * lr_mult
        idx = torch.randint(0, len(table), (batch,), device=dev, generator=gen)
        loss = train_step(idx)
        if args.debug_nan_step is not None and step == args.debug_nan_step:
            loss = loss * float("nan")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach().float() for p in params], 1 - d)
        acc_loss += loss.detach()
        acc_n += 1
        step += 1
        if step % log_every == 0 or step == total:
            ml = float(acc_loss) / acc_n
            if not math.isfinite(ml):
                # roll back to the last good snapshot, reset Adam, halve the learning rate
                n_bad += 1
                lr_mult *= 0.5
                log(f"non-finite loss at step {step}: restoring step {snap_step}, lr x{lr_mult}")
                with torch.no_grad():
                    for p, q in zip(params, snap_p):
                        p.copy_(q)
                    for e, q in zip(ema, snap_e):
                        e.copy_(q)
                opt.state.clear()
                acc_loss, acc_n = 0.0, 0
                if n_bad > 3:
                    log("giving up training after repeated non-finite losses")
                    break
                continue
            with torch.no_grad():
                snap_p = [p.detach().clone() for p in params]
                snap_e = [e.clone() for e in ema]
            snap_step = step
            curve.append((step, ml, time.time() - t_train0, lr_at(step - 1) * lr_mult))
            acc_loss, acc_n = 0.0, 0
            if len(curve) % (10 if cuda else 1) == 0 or step == total:
                log(f"step {step}/{total} loss {ml:.4f} lr {lr_at(step - 1) * lr_mult:.2e}")
            if (probe_every > 0 and time.time() - t_train0 - probe_s[0] >= probe_every * (len(probes) + 1)) or (
                    args.probe_steps and step % args.probe_steps == 0):
                probe(step)
    if acc_n:
        curve.append((step, float(acc_loss) / acc_n, time.time() - t_train0, lr_at(step - 1)))
    if cuda:
        torch.cuda.synchronize()
    train_s = time.time() - t_train0
    if probes:
        log(f"{len(probes)} probes took {probe_s[0]:.0f} s of the training time")
    log(f"trained {step} steps ({step * batch} samples) in {train_s:.1f}s = {step * batch / train_s:.0f} samples/s"
        + (" (stopped at the deadline)" if stopped_early else ""))

    use_ema()
    easel.update(default_steps=12, default_guidance=1.0, cfg="true", true_cfg_scale=1.0, negative_prompt="",
                 shift=2.0)
    save_folder(args.out, model, clip, t5, vocab, easel)
    log(f"saved {args.out}")

    pipe = ShapesPipeline(model, clip, t5, tok_c, tok_t, easel, str(dev))
    evals = held_t[: args.eval_limit] if args.eval_limit else held_t
    rows = []
    for (st, sh, cf) in grid:
        sc, _ = evaluate(pipe, evals, range(args.select_seeds), st, sh, cf, workers, amp)
        rows.append((st, sh, cf, sc))
        log(f"select steps {st:2d} shift {sh:.1f} cfg {cf:.1f}: {SA.format_scores(sc)}")
    best = max(r[3]["all"] for r in rows)

    def cost(r):
        return r[0] * (2 if r[2] > 1 else 1)
    ok = [r for r in rows if r[3]["all"] >= best - 0.01]
    chosen = min(ok, key=lambda r: (cost(r), -r[3]["all"]))
    st, sh, cf = chosen[:3]
    easel.update(default_steps=st, shift=sh, true_cfg_scale=cf, default_guidance=cf)
    report_seeds = range(1000, 1000 + args.eval_seeds)
    final, u8 = evaluate(pipe, evals, report_seeds, st, sh, cf, workers, amp)
    log(f"HELD-OUT ({len(evals)} combos x {args.eval_seeds} seeds) steps {st} shift {sh} cfg {cf}:"
        f" {SA.format_scores(final)}")
    extra = []
    if cf > 1:
        nocfg, _ = evaluate(pipe, evals, report_seeds, st, sh, 1.0, workers, amp)
        extra.append(("same, without CFG (scale 1)", nocfg))
        log(f"  without CFG: {SA.format_scores(nocfg)}")
    else:
        alt = max((r for r in rows if r[2] > 1 and r[0] == st and r[1] == sh), key=lambda r: r[3]["all"],
                  default=None)
        if alt:
            withcfg, _ = evaluate(pipe, evals, report_seeds, st, sh, alt[2], workers, amp)
            extra.append((f"same, with true CFG scale {alt[2]}", withcfg))
            log(f"  with CFG {alt[2]}: {SA.format_scores(withcfg)}")
    rng = random.Random(1)
    tr_sample = rng.sample(train_t, min(len(evals), len(train_t)))
    trsc, _ = evaluate(pipe, tr_sample, report_seeds, st, sh, cf, workers, amp)
    extra.append((f"{len(tr_sample)} training combos, same seeds", trsc))
    log(f"  training combos: {SA.format_scores(trsc)}")

    # rewrite the defaults, samples, README
    with open(os.path.join(args.out, "easel.json"), "w") as f:
        json.dump(easel_file(easel), f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler_config(sh), f, indent=2)
        f.write("\n")
    W.write_png(os.path.join(args.out, "samples.png"), W.grid(list(u8[:48]), 8))
    total_s = time.time() - T_START
    cmd = "python3 Training/easel-shapes/train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_readme(args, easel, tcfg, n_tr, n_te, gflop, batch, amp, step, train_s, total_s, curve, rows,
                 chosen, final, extra, evals, dev, cmd, stopped_early, probes, len(probe_set), probe_every)
    log(f"done in {total_s:.1f}s; wrote {args.out}")
    return final


def _device_name(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def write_readme(args, easel, tcfg, n_tr, n_te, gflop, batch, amp, steps, train_s, total_s, curve, rows, chosen,
                 final, extra, evals, dev, cmd, stopped_early, probes=(), n_probe=0, probe_every=0.0):
    def pct(sc):
        return " | ".join(f"{100 * sc[a]:.1f}" for a in SA.ATTRS + ["all"])

    hdr = "| " + " | ".join(SA.ATTRS + ["all"]) + " |"
    lines = [
        "# easel-shapes",
        "",
        "Easel's bundled tiny FLUX-architecture text-to-image model, trained from scratch on the",
        f"procedurally generated shapes world (`Training/easel-shapes/world.py`, world `{W.WORLD_VERSION}`).",
        "Pixel space, no VAE: see `easel.json`.  Prompts: `a {small|large} {colour} {shape} {position} on a"
        " {colour} background`.",
        "",
        "## Run",
        "",
        f"- command: `{cmd}`",
        f"- device: {_device_name(dev)}; bf16 autocast: {amp}; torch {torch.__version__}",
        f"- seed {args.seed}, split seed {args.split_seed}, world {W.WORLD_VERSION}; {steps} optimizer steps"
        f" (pass `--steps {steps}` to repeat exactly{'; stopped at the time limit' if stopped_early else ''})",
        f"- training wall time {train_s:.1f} s ({steps * batch / max(train_s, 1e-9):.0f} samples/s), whole script"
        f" {total_s:.1f} s",
        f"- batch {batch}, AdamW lr {args.lr} (warmup {args.warmup_used}, cosine to {args.min_lr_frac} x), betas (0.9, 0.99),"
        f" weight decay {args.weight_decay}, grad clip 1.0, EMA {args.ema} (shipped weights = EMA, f16)",
        f"- rectified flow, logit-normal(0,1) t, caption dropout {args.cfg_dropout} (empty prompt)",
    ]
    if getattr(args, "pre_size", None):
        pu = getattr(args, "pre_steps_used", None)
        if pu is None:  # the run ended before the switch
            lines.append(f"- progressive resolution: every step at {args.pre_size}x{args.pre_size} (image RoPE positions"
                         f" scaled to the {args.size}x{args.size} grid; constant lr); it never reached {args.size}x{args.size}")
        else:
            lines.append(f"- progressive resolution: {pu} steps at {args.pre_size}x{args.pre_size} (image RoPE positions"
                         f" scaled to the {args.size}x{args.size} grid; constant lr), then {args.size}x{args.size} with the"
                         f" cosine decay; pass `--pre-steps {pu}` to repeat exactly")
    lines += [
        f"- transformer: FluxTransformer2DModel {json.dumps({k: v for k, v in tcfg.items()})}"
        f" = {n_tr / 1e6:.2f} M params, {gflop:.2f} GFLOP per forward per image;"
        f" text encoders (CLIP + T5, trained jointly) {n_te / 1e6:.2f} M params",
        "",
        "## Evaluation",
        "",
        f"Deterministic analyzer (`Training/easel-shapes/analyzer.py`) on {len(evals)} held-out combinations (never"
        f" trained on; `world.is_held_out`, a sha256 rule, ~10%, split seed {args.split_seed}),"
        " canonical prompt, accuracy in %.",
        "",
        "Selection grid (noise seeds 0.." + str(args.select_seeds - 1) + "):",
        "",
        "| steps | shift | cfg | " + " | ".join(SA.ATTRS + ["all"]) + " |",
        "|---|---|---|" + "---|" * 6,
    ]
    for st, sh, cf, sc in rows:
        lines.append(f"| {st} | {sh} | {cf} | {pct(sc)} |")
    st, sh, cf = chosen[:3]
    lines += [
        "",
        f"Chosen default (cheapest within 1 point of the best 'all'): steps {st}, shift {sh}, true CFG scale {cf}"
        f" = {st * (2 if cf > 1 else 1)} transformer passes x {gflop:.2f} GFLOP = {st * (2 if cf > 1 else 1) * gflop:.1f}"
        " GFLOP per image.",
        f"Report on fresh noise seeds 1000..{999 + args.eval_seeds}:",
        "",
        "| set " + hdr,
        "|---|" + "---|" * 6,
        f"| held-out, defaults | {pct(final)} |",
    ]
    for name, sc in extra:
        lines.append(f"| {name} | {pct(sc)} |")
    lines += ["", "Targets on held-out: colour, background >= 95; position, size >= 90; shape >= 80.", "",
              "![samples](samples.png) (held-out prompts, first seeds)", "",
              "## Loss curve", "", "| step | loss | seconds | lr |", "|---|---|---|---|"]
    keep = curve if len(curve) <= 40 else [curve[i] for i in
                                            sorted(set(np.linspace(0, len(curve) - 1, 40).astype(int)))]
    for s, l, t, lr in keep:
        lines.append(f"| {s} | {l:.4f} | {t:.0f} | {lr:.2e} |")
    lines.append("")
    if probes:
        lines += ["## Held-out probes during training", "",
                  "EMA weights (f16-rounded) every " + " and every ".join(
                      ([f"{probe_every:g} s of training"] if probe_every > 0 else [])
                      + ([f"{args.probe_steps} steps"] if args.probe_steps else [])) + f", on {n_probe} held-out"
                  " combinations x 1 seed, 8 steps, shift 2, no CFG (PyTorch sampler); accuracy in %:", "",
                  "| step | samples | seconds | " + " | ".join(SA.ATTRS) + " | all |", "|---|---|---|" + "---|" * 6]
        for s, n, t, sc in probes:
            lines.append(f"| {s} | {n} | {t:.0f} | " + " | ".join(f"{100 * sc[x]:.1f}" for x in SA.ATTRS + ["all"])
                         + " |")
        lines.append("")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
