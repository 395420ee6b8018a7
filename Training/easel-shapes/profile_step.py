#!/usr/bin/env python3
"""Time the phases of one train.py step on this machine (render, forward, backward, AdamW).

    U=2 SIZE=64 B=64 WIDTH=128 [COMPILE=1] ./venv/bin/python Training/easel-shapes/profile_step.py

Environment: U pixel_unshuffle factor, SIZE image side, B batch, WIDTH transformer width, COMPILE=1 torch.compile.
Prints samples/s and ms per phase, averaged over 20 steps after 5 warm-up steps (the numbers in
Config/models/easel-shapes/README.md, 'Where the CPU time goes').
"""
import sys, time, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch, torch.nn.functional as F
torch.set_flush_denormal(True)
import world as W
from model import DEFAULT_TRANSFORMER_CONFIG, FluxMini, build_text_encoders, build_vocab, encode_text, image_ids, images_to_tokens
import train as T
u = int(os.environ.get("U", "2")); size = int(os.environ.get("SIZE", "64")); B = int(os.environ.get("B", "64"))
width = int(os.environ.get("WIDTH","128")); comp = os.environ.get("COMPILE") == "1"
train_t, held_t = W.split(0)
vocab = build_vocab(W.vocabulary()); L = 16
gen = torch.Generator().manual_seed(0)
prompts = T.PromptTable(train_t, vocab, L, torch.device("cpu"))
table = W.TupleTable(train_t, device=torch.device("cpu"))
tcfg = dict(DEFAULT_TRANSFORMER_CONFIG); tcfg.update(num_attention_heads=width//32, attention_head_dim=32, num_layers=2, num_single_layers=4, joint_attention_dim=128, pooled_projection_dim=128, in_channels=12*u*u)
model = FluxMini(**tcfg)
clip, t5 = build_text_encoders(len(vocab), L, clip_cfg=dict(hidden_size=128, intermediate_size=256, num_attention_heads=4, projection_dim=128), t5_cfg=dict(d_model=128, d_ff=256, num_heads=4))
params = [p for m in (model, clip, t5) for p in m.parameters()]
opt = torch.optim.AdamW(params, lr=1e-4)
g = size // (2*u); ids = image_ids(g, g); txt = torch.zeros(L, 3)
fwd = torch.compile(model) if comp else model
tim = dict(render=0, fwd=0, bwd=0, opt=0)
for step in range(25):
    if step == 5: tim = {k: 0 for k in tim}; t00 = time.time()
    t0 = time.time()
    idx = torch.randint(0, len(table), (B,), generator=gen)
    with torch.no_grad():
        img = table.render(idx, size, size, gen=gen); x0 = images_to_tokens(img, u)
        ci, ti = prompts.sample(idx, gen, 0.1)
        noise = torch.randn(x0.shape, generator=gen); t = torch.sigmoid(torch.randn(B, generator=gen))
        xt = (1-t[:,None,None])*x0 + t[:,None,None]*noise; target = noise - x0
    t1 = time.time()
    pooled, ctx = encode_text(clip, t5, ci, ti)
    v = fwd(xt, ctx, pooled, t, ids, txt); loss = F.mse_loss(v, target)
    t2 = time.time(); opt.zero_grad(); loss.backward(); t3 = time.time()
    torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); t4 = time.time()
    tim["render"] += t1-t0; tim["fwd"] += t2-t1; tim["bwd"] += t3-t2; tim["opt"] += t4-t3
tot = time.time() - t00
print(f"u{u} size{size} B{B} w{width} compile={comp}: {20*B/tot:.1f} samples/s;", {k: round(v/20*1000,1) for k, v in tim.items()}, "ms/step")
