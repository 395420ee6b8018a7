"""Minimal PyTorch FLUX pipeline pieces for the easel-shapes model (no diffusers needed).

* FluxMini: a re-implementation of diffusers' FluxTransformer2DModel with the same
  parameter names and the same math (checked against diffusers by
  Training/easel-shapes/check_model.py).
* Tokenizers: WordLevel tokenizer.json files for the CLIP and T5 slots.
* Text encoders: transformers CLIPTextModel / T5EncoderModel, built from small configs.
* Pixel-space latents: pixel_unshuffle(2) + FluxPipeline packing, image/text ids.
* Sampler: FlowMatchEuler as FluxPipeline runs it (sigmas linspace(1, 1/N, N),
  static shift, final step to 0), optional true CFG against the empty prompt.
* Folder save/load in the diffusers FluxPipeline layout, plus easel.json.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIFFUSERS_VERSION = "0.35.1"  # version string written into configs (format-compatible)

# --------------------------------------------------------------------------- transformer


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


def _ln(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


class Attention(nn.Module):
    """diffusers FluxAttention (processor FluxAttnProcessor), unfused projections."""

    def __init__(self, dim, heads, head_dim, added_kv=False, pre_only=False):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.norm_q = RMSNorm(head_dim)
        self.norm_k = RMSNorm(head_dim)
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.pre_only = pre_only
        if not pre_only:
            self.to_out = nn.ModuleList([nn.Linear(inner, dim)])
        self.added_kv = added_kv
        if added_kv:
            self.norm_added_q = RMSNorm(head_dim)
            self.norm_added_k = RMSNorm(head_dim)
            self.add_q_proj = nn.Linear(dim, inner)
            self.add_k_proj = nn.Linear(dim, inner)
            self.add_v_proj = nn.Linear(dim, inner)
            self.to_add_out = nn.Linear(inner, dim)

    def _split(self, x):
        return x.unflatten(-1, (-1, self.head_dim))  # [B,S,H,D]

    def forward(self, x, ctx=None, rope=None):
        q = self.norm_q(self._split(self.to_q(x)))
        k = self.norm_k(self._split(self.to_k(x)))
        v = self._split(self.to_v(x))
        if ctx is not None:
            cq = self.norm_added_q(self._split(self.add_q_proj(ctx)))
            ck = self.norm_added_k(self._split(self.add_k_proj(ctx)))
            cv = self._split(self.add_v_proj(ctx))
            q = torch.cat([cq, q], 1)
            k = torch.cat([ck, k], 1)
            v = torch.cat([cv, v], 1)
        if rope is not None:
            q = apply_rope(q, rope)
            k = apply_rope(k, rope)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        o = o.transpose(1, 2).flatten(2, 3).to(q.dtype)
        if ctx is not None:
            n = ctx.shape[1]
            c, o = o[:, :n], o[:, n:]
            return self.to_out[0](o), self.to_add_out(c)
        return o


def apply_rope(x, rope):
    cos, sin = rope  # [S,D]
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    xr, xi = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    rot = torch.stack([-xi, xr], -1).flatten(3)
    return (x.float() * cos + rot.float() * sin).to(x.dtype)


def rope_tables(ids, axes_dim, theta=10000.0):
    """FluxPosEmbed: ids [S,n_axes] -> (cos, sin) [S, sum(axes_dim)], float32."""
    cos_out, sin_out = [], []
    pos = ids.float()
    fdt = torch.float64 if ids.device.type not in ("mps", "npu") else torch.float32
    for i, d in enumerate(axes_dim):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=fdt, device=ids.device) / d))
        f = torch.outer(pos[:, i].to(fdt), freqs)
        cos_out.append(f.cos().repeat_interleave(2, dim=1).float())
        sin_out.append(f.sin().repeat_interleave(2, dim=1).float())
    return torch.cat(cos_out, -1), torch.cat(sin_out, -1)


class AdaNormZero(nn.Module):
    def __init__(self, dim, n):
        super().__init__()
        self.n = n
        self.linear = nn.Linear(dim, n * dim)

    def forward(self, x, emb):
        chunks = self.linear(F.silu(emb)).chunk(self.n, dim=1)
        shift, scale = chunks[0], chunks[1]
        return (_ln(x) * (1 + scale[:, None]) + shift[:, None],) + tuple(chunks[2:])


class GELUProj(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x):
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        # net.0 = GELU(proj), net.1 = Dropout (no params), net.2 = Linear
        self.net = nn.ModuleList([GELUProj(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class DoubleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.norm1 = AdaNormZero(dim, 6)
        self.norm1_context = AdaNormZero(dim, 6)
        self.attn = Attention(dim, heads, head_dim, added_kv=True)
        self.ff = FeedForward(dim)
        self.ff_context = FeedForward(dim)

    def forward(self, x, ctx, temb, rope):
        nx, g_msa, sh_mlp, sc_mlp, g_mlp = self.norm1(x, temb)
        nc, cg_msa, csh_mlp, csc_mlp, cg_mlp = self.norm1_context(ctx, temb)
        a, ca = self.attn(nx, nc, rope)
        x = x + g_msa[:, None] * a
        h = _ln(x) * (1 + sc_mlp[:, None]) + sh_mlp[:, None]
        x = x + g_mlp[:, None] * self.ff(h)
        ctx = ctx + cg_msa[:, None] * ca
        h = _ln(ctx) * (1 + csc_mlp[:, None]) + csh_mlp[:, None]
        ctx = ctx + cg_mlp[:, None] * self.ff_context(h)
        if ctx.dtype == torch.float16:
            ctx = ctx.clip(-65504, 65504)
        return ctx, x


class SingleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, mlp_ratio=4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm = AdaNormZero(dim, 3)
        self.proj_mlp = nn.Linear(dim, hidden)
        self.proj_out = nn.Linear(dim + hidden, dim)
        self.attn = Attention(dim, heads, head_dim, pre_only=True)

    def forward(self, x, ctx, temb, rope):
        n = ctx.shape[1]
        x = torch.cat([ctx, x], 1)
        h, gate = self.norm(x, temb)
        mlp = F.gelu(self.proj_mlp(h), approximate="tanh")
        a = self.attn(h, rope=rope)
        x = x + gate[:, None] * self.proj_out(torch.cat([a, mlp], 2))
        if x.dtype == torch.float16:
            x = x.clip(-65504, 65504)
        return x[:, :n], x[:, n:]


class MLP2(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.linear_1 = nn.Linear(din, dout)
        self.linear_2 = nn.Linear(dout, dout)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class TimeTextEmbed(nn.Module):
    def __init__(self, dim, pooled_dim, guidance=False):
        super().__init__()
        self.timestep_embedder = MLP2(256, dim)
        if guidance:
            self.guidance_embedder = MLP2(256, dim)
        self.text_embedder = MLP2(pooled_dim, dim)


def timestep_embedding(t, dim=256, max_period=10000):
    """diffusers get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0)."""
    half = dim // 2
    ex = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    e = t[:, None].float() * torch.exp(ex)[None]
    return torch.cat([torch.cos(e), torch.sin(e)], -1)


class NormOut(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)

    def forward(self, x, emb):
        scale, shift = self.linear(F.silu(emb).to(x.dtype)).chunk(2, dim=1)
        return _ln(x) * (1 + scale)[:, None] + shift[:, None]


DEFAULT_TRANSFORMER_CONFIG = dict(
    patch_size=1, in_channels=48, out_channels=None, num_layers=2, num_single_layers=4,
    attention_head_dim=32, num_attention_heads=4, joint_attention_dim=128,
    pooled_projection_dim=128, guidance_embeds=False, axes_dims_rope=[8, 12, 12],
)


class FluxMini(nn.Module):
    def __init__(self, **cfg):
        super().__init__()
        c = dict(DEFAULT_TRANSFORMER_CONFIG)
        c.update(cfg)
        self.config = c
        dim = c["num_attention_heads"] * c["attention_head_dim"]
        out = c["out_channels"] or c["in_channels"]
        assert sum(c["axes_dims_rope"]) == c["attention_head_dim"]
        self.time_text_embed = TimeTextEmbed(dim, c["pooled_projection_dim"], c["guidance_embeds"])
        self.context_embedder = nn.Linear(c["joint_attention_dim"], dim)
        self.x_embedder = nn.Linear(c["in_channels"], dim)
        h, hd = c["num_attention_heads"], c["attention_head_dim"]
        self.transformer_blocks = nn.ModuleList([DoubleBlock(dim, h, hd) for _ in range(c["num_layers"])])
        self.single_transformer_blocks = nn.ModuleList(
            [SingleBlock(dim, h, hd) for _ in range(c["num_single_layers"])])
        self.norm_out = NormOut(dim)
        self.proj_out = nn.Linear(dim, c["patch_size"] ** 2 * out)
        self._rope_cache = None

    def zero_init(self):
        """adaLN-zero style init: blocks start as identity, output starts at zero."""
        for m in self.modules():
            if isinstance(m, (AdaNormZero, NormOut)):
                nn.init.zeros_(m.linear.weight)
                nn.init.zeros_(m.linear.bias)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def rope(self, txt_ids, img_ids):
        key = (txt_ids.shape, img_ids.shape, txt_ids.device, img_ids.data_ptr(), txt_ids.data_ptr())
        if self._rope_cache is None or self._rope_cache[0] != key:
            ids = torch.cat([txt_ids, img_ids], 0)
            self._rope_cache = (key, rope_tables(ids, self.config["axes_dims_rope"]))
        return self._rope_cache[1]

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep,
                img_ids, txt_ids, guidance=None):
        x = self.x_embedder(hidden_states)
        tt = self.time_text_embed
        t = timestep.to(x.dtype) * 1000
        temb = tt.timestep_embedder(timestep_embedding(t).to(pooled_projections.dtype))
        if guidance is not None:
            g = guidance.to(x.dtype) * 1000
            temb = temb + tt.guidance_embedder(timestep_embedding(g).to(pooled_projections.dtype))
        temb = temb + tt.text_embedder(pooled_projections)
        ctx = self.context_embedder(encoder_hidden_states)
        rope = self.rope(txt_ids, img_ids)
        for b in self.transformer_blocks:
            ctx, x = b(x, ctx, temb, rope)
        for b in self.single_transformer_blocks:
            ctx, x = b(x, ctx, temb, rope)
        return self.proj_out(self.norm_out(x, temb))

    def diffusers_config(self):
        c = {"_class_name": "FluxTransformer2DModel", "_diffusers_version": DIFFUSERS_VERSION}
        c.update(self.config)
        c["axes_dims_rope"] = list(c["axes_dims_rope"])
        return c


def transformer_flops(cfg, n_img=256, n_txt=16):
    """Multiply-adds x2 of one transformer forward for one image (linear layers + attention)."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    s = n_img + n_txt
    dbl = (n_img + n_txt) * (4 * d * d + 8 * d * d + 6 * d * d) + 2 * s * s * d
    sgl = s * (3 * d * d + 4 * d * d + 5 * d * d + 3 * d * d) + 2 * s * s * d
    io = n_img * (cfg["in_channels"] * d * 2 + 2 * d * d) + n_txt * cfg["joint_attention_dim"] * d
    return 2 * (cfg["num_layers"] * dbl + cfg["num_single_layers"] * sgl + io)


# --------------------------------------------------------------------------- tokenizers

SPECIALS = ["<pad>", "<eos>", "<unk>", "<bos>"]  # ids 0..3 (T5 style: pad 0, eos 1)
PAD_ID, EOS_ID, UNK_ID, BOS_ID = 0, 1, 2, 3


def build_vocab(words):
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    return vocab


def build_tokenizer(vocab, max_len, kind):
    """WordLevel tokenizer: lowercase, non-alphanumerics -> space, whitespace split,
    CLIP slot: <bos> words <eos>; T5 slot: words <eos>.  Pads with <pad> (id 0) to max_len,
    truncates to max_len (keeping the special tokens)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(),
                                           normalizers.Replace(Regex(r"[^a-z0-9\s]"), " ")])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if kind == "clip":
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A <eos>", special_tokens=[("<bos>", BOS_ID), ("<eos>", EOS_ID)])
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="$A <eos>", special_tokens=[("<eos>", EOS_ID)])
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=PAD_ID, pad_token="<pad>", length=max_len)
    return tok


def tokenizer_config(max_len, kind):
    c = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_len,
         "padding_side": "right", "truncation_side": "right", "do_lower_case": True,
         "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
         "clean_up_tokenization_spaces": False}
    if kind == "clip":
        c["bos_token"] = "<bos>"
    return c


def encode_ids(tok, prompts):
    return torch.tensor([e.ids for e in tok.encode_batch(list(prompts))], dtype=torch.long)


# --------------------------------------------------------------------------- text encoders

DEFAULT_CLIP = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=128)
DEFAULT_T5 = dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4,
                  relative_attention_num_buckets=16, relative_attention_max_distance=32,
                  feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6)


def build_text_encoders(vocab_size, max_len, clip_cfg=None, t5_cfg=None):
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
    cc = dict(DEFAULT_CLIP)
    cc.update(clip_cfg or {})
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=vocab_size, max_position_embeddings=max_len,
                                        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID,
                                        attention_dropout=0.0, **cc))
    tc = dict(DEFAULT_T5)
    tc.update(t5_cfg or {})
    t5 = T5EncoderModel(T5Config(vocab_size=vocab_size, pad_token_id=PAD_ID, eos_token_id=EOS_ID,
                                 decoder_start_token_id=PAD_ID, is_encoder_decoder=False,
                                 use_cache=False, **tc))
    return clip, t5


def encode_text(clip, t5, clip_ids, t5_ids):
    """As FluxPipeline: pooled = CLIP pooler_output (no attention mask), context = T5 last
    hidden state (no attention mask)."""
    pooled = clip(input_ids=clip_ids).pooler_output
    ctx = t5(input_ids=t5_ids).last_hidden_state
    return pooled, ctx


# --------------------------------------------------------------------------- latents

def pack(lat):
    """FluxPipeline._pack_latents: [B,C,H,W] -> [B,(H/2)(W/2),4C]."""
    b, c, h, w = lat.shape
    lat = lat.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return lat.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tok, h, w):
    """FluxPipeline._unpack_latents for latent size h x w: [B,N,4C] -> [B,C,h,w]."""
    b, n, ch = tok.shape
    x = tok.view(b, h // 2, w // 2, ch // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, ch // 4, h, w)


def image_ids(h_tok, w_tok, device=None):
    """FluxPipeline._prepare_latent_image_ids (for a latent of 2*h_tok x 2*w_tok)."""
    ids = torch.zeros(h_tok, w_tok, 3)
    ids[..., 1] += torch.arange(h_tok)[:, None]
    ids[..., 2] += torch.arange(w_tok)[None, :]
    return ids.reshape(h_tok * w_tok, 3).to(device)


def images_to_tokens(img01, unshuffle=2):
    """[B,3,H,W] in [0,1] -> packed tokens of the pixel-space 'latent'."""
    x = img01 * 2 - 1
    return pack(F.pixel_unshuffle(x, unshuffle))


def tokens_to_images(tok, height, width, unshuffle=2):
    lat = unpack(tok, height // unshuffle, width // unshuffle)
    x = F.pixel_shuffle(lat, unshuffle)
    return (x / 2 + 0.5).clamp(0, 1)


# --------------------------------------------------------------------------- sampler

def sigma_schedule(steps, shift):
    """FluxPipeline + FlowMatchEulerDiscreteScheduler (static shift): N sigmas then 0."""
    s = np.linspace(1.0, 1.0 / steps, steps)
    s = shift * s / (1 + (shift - 1) * s)
    return np.append(s, 0.0).astype(np.float32)


def initial_noise(seeds, height=64, width=64, unshuffle=2):
    """Per-image noise [B, 3*u*u, H/u, W/u] from torch.Generator().manual_seed(seed) (CPU)."""
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        out.append(torch.randn(1, 3 * unshuffle * unshuffle, height // unshuffle, width // unshuffle,
                               generator=g))
    return torch.cat(out)


class ShapesPipeline:
    def __init__(self, transformer, clip, t5, tok_clip, tok_t5, easel, device="cpu"):
        self.transformer, self.clip, self.t5 = transformer, clip, t5
        self.tok_clip, self.tok_t5, self.easel, self.device = tok_clip, tok_t5, easel, device

    @torch.no_grad()
    def encode(self, prompts):
        ci = encode_ids(self.tok_clip, prompts).to(self.device)
        ti = encode_ids(self.tok_t5, prompts).to(self.device)
        return encode_text(self.clip, self.t5, ci, ti)

    @torch.no_grad()
    def __call__(self, prompts, seeds=None, noise=None, steps=None, shift=None, cfg=None,
                 batch_size=256, autocast=False, return_noise=False):
        e = self.easel
        steps = steps or e["default_steps"]
        shift = shift if shift is not None else e.get("shift", 1.0)
        cfg = cfg if cfg is not None else e.get("true_cfg_scale", 1.0)
        H, W, u = e["height"], e["width"], e["pixel_unshuffle"]
        if noise is None:
            noise = initial_noise(seeds, H, W, u)
        sig = sigma_schedule(steps, shift)
        ids = image_ids(H // u // 2, W // u // 2, self.device)
        txt = torch.zeros(e["max_sequence_length"], 3, device=self.device)
        outs = []
        uncond = self.encode([""]) if cfg > 1 else None
        for i in range(0, len(prompts), batch_size):
            pr = list(prompts[i:i + batch_size])
            b = len(pr)
            with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
                pooled, ctx = self.encode(pr)
                if uncond is not None:
                    pooled = torch.cat([pooled, uncond[0].expand(b, -1)])
                    ctx = torch.cat([ctx, uncond[1].expand(b, -1, -1)])
                x = pack(noise[i:i + b].to(self.device).float())
                for k in range(steps):
                    t = torch.full((b,), float(sig[k]), device=self.device)
                    if uncond is not None:
                        v = self.transformer(torch.cat([x, x]), ctx, pooled, torch.cat([t, t]), ids, txt).float()
                        v = v[b:] + cfg * (v[:b] - v[b:])
                    else:
                        v = self.transformer(x, ctx, pooled, t, ids, txt).float()
                    if e.get("prediction", "velocity") == "sample":  # the model gave x0 (train.py --predict)
                        v = (x - v) / max(float(sig[k]), 0.05)
                    x = x + (float(sig[k + 1]) - float(sig[k])) * v
            outs.append(tokens_to_images(x, H, W, u).cpu())
        img = torch.cat(outs)
        return (img, noise) if return_noise else img


# --------------------------------------------------------------------------- folder I/O

def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def scheduler_config(shift):
    return {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": DIFFUSERS_VERSION,
            "num_train_timesteps": 1000, "shift": float(shift), "use_dynamic_shifting": False,
            "base_shift": 0.5, "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096,
            "invert_sigmas": False, "shift_terminal": None, "use_karras_sigmas": False,
            "use_exponential_sigmas": False, "use_beta_sigmas": False, "time_shift_type": "exponential",
            "stochastic_sampling": False}


def _save_hf(model, d, dtype, prefix=None):
    """config.json + model.safetensors with the canonical (FLUX.1 checkpoint) key names:
    CLIP keys under 'text_model.', T5 with both 'shared.weight' and 'encoder.embed_tokens.weight'."""
    from safetensors.torch import save_file
    os.makedirs(d, exist_ok=True)
    model.config.save_pretrained(d)
    p = os.path.join(d, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg.pop("torch_dtype", None)
    cfg["dtype"] = str(dtype).replace("torch.", "")
    _write_json(p, cfg)
    sd = {}
    for k, v in model.state_dict().items():
        if prefix and not k.startswith(prefix):
            k = prefix + k
        v = v.detach().to("cpu")
        sd[k] = (v.to(dtype) if v.is_floating_point() else v).clone().contiguous()
    if "shared.weight" in sd and "encoder.embed_tokens.weight" not in sd:
        sd["encoder.embed_tokens.weight"] = sd["shared.weight"].clone()
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


def save_folder(out, transformer, clip, t5, vocab, easel, dtype=torch.float16):
    """Writes the diffusers FluxPipeline-style folder (no vae: pixel space)."""
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    L = easel["max_sequence_length"]
    _write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "FluxPipeline", "_diffusers_version": DIFFUSERS_VERSION,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "tokenizer_2": ["transformers", "PreTrainedTokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": [None, None],
        "image_encoder": [None, None], "feature_extractor": [None, None],
    })
    d = os.path.join(out, "transformer")
    os.makedirs(d, exist_ok=True)
    _write_json(os.path.join(d, "config.json"), transformer.diffusers_config())
    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in transformer.state_dict().items()}
    save_file(sd, os.path.join(d, "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    _save_hf(clip, os.path.join(out, "text_encoder"), dtype, prefix="text_model.")
    _save_hf(t5, os.path.join(out, "text_encoder_2"), dtype)
    for name, kind in (("tokenizer", "clip"), ("tokenizer_2", "t5")):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        build_tokenizer(vocab, L, kind).save(os.path.join(d, "tokenizer.json"))
        _write_json(os.path.join(d, "tokenizer_config.json"), tokenizer_config(L, kind))
        _write_json(os.path.join(d, "special_tokens_map.json"),
                    {k: v for k, v in tokenizer_config(L, kind).items() if k.endswith("_token")})
    d = os.path.join(out, "scheduler")
    os.makedirs(d, exist_ok=True)
    _write_json(os.path.join(d, "scheduler_config.json"), scheduler_config(easel["shift"]))
    _write_json(os.path.join(out, "easel.json"), easel_file(easel))


def easel_file(easel):
    """The in-memory settings as the engine's easel.json schema: the scheduler's shift lives in
    scheduler_config.json, the CFG scale is the model's default guidance with guidance = true_cfg."""
    f = {k: easel[k] for k in ("latent_space", "pixel_unshuffle", "max_sequence_length", "default_steps",
                                "width", "height")}
    if easel.get("prediction", "velocity") != "velocity":
        f["prediction"] = easel["prediction"]  # "sample": the engine turns x0 into the velocity
    f["guidance"] = "true_cfg"
    f["default_guidance"] = easel["true_cfg_scale"]
    f["_world_version"] = easel["world_version"]
    return f


def easel_from_file(path, e):
    """Inverse of easel_file for the Python sampler."""
    with open(os.path.join(path, "scheduler", "scheduler_config.json")) as f:
        e["shift"] = json.load(f).get("shift", 1.0)
    e["true_cfg_scale"] = e.get("default_guidance", 1.0)
    e["cfg"] = "true" if e.get("guidance") == "true_cfg" else "none"
    e["world_version"] = e.get("_world_version")
    e.setdefault("clip_max_length", e["max_sequence_length"])
    e.setdefault("negative_prompt", "")
    return e


def load_folder(path, device="cpu"):
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import CLIPTextModel, T5EncoderModel
    with open(os.path.join(path, "easel.json")) as f:
        easel = easel_from_file(path, json.load(f))
    with open(os.path.join(path, "transformer", "config.json")) as f:
        cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    tr = FluxMini(**cfg)
    sd = load_file(os.path.join(path, "transformer", "diffusion_pytorch_model.safetensors"))
    tr.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    clip = CLIPTextModel.from_pretrained(os.path.join(path, "text_encoder")).float()
    t5 = T5EncoderModel.from_pretrained(os.path.join(path, "text_encoder_2")).float()
    tok_clip = Tokenizer.from_file(os.path.join(path, "tokenizer", "tokenizer.json"))
    tok_t5 = Tokenizer.from_file(os.path.join(path, "tokenizer_2", "tokenizer.json"))
    for m in (tr, clip, t5):
        m.to(device).eval()
    return ShapesPipeline(tr, clip, t5, tok_clip, tok_t5, easel, device)
