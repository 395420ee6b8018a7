#!/usr/bin/env python3
"""CPU replay of attention_sm90.cu's data movement and fragment layouts (no GPU needed).

Model (PTX ISA / CUDA driver docs; the same model as fp8_layout_emu.py):
  * TMA (cuTensorMapEncodeTiled, SWIZZLE_128B, box {64, 128, 1, 1} over dims (d, seq, head, batch) with the
    caller's element strides): box row r (a 128-byte row of 64 bf16) lands at r * 128 with its 16-byte chunk c at
    chunk c ^ (r % 8); rows at or past the sequence length are zero.
  * wgmma shared-memory descriptors with 128-byte swizzle read byte address swz(a) = a ^ (((a >> 7) & 7) << 4) of
    the canonical (unswizzled) address a:
      K-major (Q, K): element (row i, k) of a k16 slice at start + (i // 8) * SBO + (i % 8) * 128 + 2 k;
      MN-major (V, transpose bit): element (k, n) at start + (n // 64) * LBO + (n % 64) * 2 + (k // 8) * SBO
      + (k % 8) * 128  (CUTLASS's canonical ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)) layout).
  * wgmma m64nNk16 fragments: accumulator register 4 j + e of lane l in warp w (of the warpgroup) is row
    16 w + l / 4 + 8 (e >= 2), column 8 j + 2 (l % 4) + (e & 1); A from registers: register i (a bf16x2) of lane
    l in warp w holds row 16 w + l / 4 + 8 (i & 1), columns 2 (l % 4) + 8 (i >= 2) + {0, 1}.
The replay runs the kernel's algorithm per thread on those layouts -- TMA placement of Q/K/V (strided and fused-qkv
layouts, partial tiles), the descriptor addresses the kernel computes (warpgroup row offset, atom offset, +32 bytes
per k16 step of Q K^T, +2048 bytes per k16 step of P V), masking, the per-thread online softmax with quad
reductions, the S accumulator -> P A-fragment packing, the epilogue's staging addresses (checked bijective and bank
conflict free) and row-masked stores -- and compares O and lse with a float64 reference. It checks the kernel's
constants and index arithmetic against the model, not the model against the hardware.
Keep the constants in sync with Kernels/src/attention_sm90.cu.   Run: python3 Kernels/tools/attention_sm90_layout_emu.py
"""
import math
import sys

import numpy as np

D, BM, BN, STAGES = 128, 128, 128, 2
ATOM = 128 * 128           # bytes: 128 rows x 64 bf16
TILE = 2 * ATOM
Q_OFF, K_OFF = 0, TILE
V_OFF = K_OFF + STAGES * TILE
O_OFF = V_OFF + STAGES * TILE
SMEM_BYTES = O_OFF + 8 * 16 * D * 2
SBO, LBO_V = 1024, ATOM


def swz(a):
    return a ^ (((a >> 7) & 7) << 4)


def bf16(x):
    """round float64/float32 array to bf16 (nearest even), returned as float64"""
    f = np.asarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


class Smem:
    def __init__(self):
        self.h = np.full(SMEM_BYTES // 2, np.nan)  # one bf16 value per 2 bytes, NaN = never written

    def tma_box(self, dst, gmem, base, c0, row0, h, b, seq, ss, sh, sb):
        for r in range(128):
            row = row0 + r
            for e in range(64):
                col = c0 + e
                v = gmem[base + col + row * ss + h * sh + b * sb] if row < seq else 0.0
                byte = r * 128 + (((2 * e) // 16) ^ (r % 8)) * 16 + (2 * e) % 16
                self.h[(dst + byte) // 2] = v

    def read(self, byte_addr):
        assert byte_addr % 2 == 0
        v = self.h[byte_addr // 2]
        assert not np.isnan(v), f"descriptor read of an unwritten shared-memory address {byte_addr}"
        return v


def kmajor_slice(sm, start, rows):  # [rows][16] of a K-major 128B-swizzled operand, k16 slice at start
    return np.array([[sm.read(swz(start + (i // 8) * SBO + (i % 8) * 128 + 2 * k)) for k in range(16)]
                     for i in range(rows)])


def mnmajor_slice(sm, start, n_total):  # [16][n_total] of an MN-major 128B-swizzled B operand
    return np.array([[sm.read(swz(start + (n // 64) * LBO_V + (n % 64) * 2 + (k // 8) * SBO + (k % 8) * 128))
                      for n in range(n_total)] for k in range(16)])


def acc_to_regs(M):  # [64][128] -> regs[warp][lane][64]
    regs = np.zeros((4, 32, 64))
    for w in range(4):
        for l in range(32):
            g, t = l // 4, l % 4
            for j in range(16):
                for e in range(4):
                    regs[w, l, 4 * j + e] = M[16 * w + g + 8 * (e >= 2), 8 * j + 2 * t + (e & 1)]
    return regs


def regs_to_acc(regs):
    M = np.zeros((64, 128))
    for w in range(4):
        for l in range(32):
            g, t = l // 4, l % 4
            for j in range(16):
                for e in range(4):
                    M[16 * w + g + 8 * (e >= 2), 8 * j + 2 * t + (e & 1)] = regs[w, l, 4 * j + e]
    return M


def afrag_to_matrix(p, kk):  # p[warp][lane][kk][i][2] (bf16 pairs) -> A [64][16] of k16 step kk
    A = np.full((64, 16), np.nan)
    for w in range(4):
        for l in range(32):
            g, t = l // 4, l % 4
            for i in range(4):
                for c in range(2):
                    A[16 * w + g + 8 * (i & 1), 2 * t + 8 * (i >= 2) + c] = p[w, l, kk, i, c]
    assert not np.isnan(A).any()
    return A


def run_kernel(gmem, lay, B, H, Sq, Skv, scale, out, lse):
    """one CTA at a time, as the kernel (q tile, head, batch)"""
    sl2 = scale * 1.4426950408889634
    n_blocks = (Skv + BN - 1) // BN
    for b in range(B):
        for h in range(H):
            for qt in range((Sq + BM - 1) // BM):
                q0 = qt * BM
                sm = Smem()
                qb, qs, qh, qbs = lay["q"]
                sm.tma_box(Q_OFF, gmem, qb, 0, q0, h, b, Sq, qs, qh, qbs)
                sm.tma_box(Q_OFF + ATOM, gmem, qb, 64, q0, h, b, Sq, qs, qh, qbs)
                st = {}
                for wg in range(2):
                    st[wg] = dict(o=np.zeros((4, 32, 64)), m=np.full((4, 32, 2), -np.inf), l=np.zeros((4, 32, 2)))
                for j in range(n_blocks):
                    s_ = j & 1
                    kv0 = j * BN
                    kb_, ks, kh, kbs = lay["k"]
                    vb_, vs, vh, vbs = lay["v"]
                    sm.tma_box(K_OFF + s_ * TILE, gmem, kb_, 0, kv0, h, b, Skv, ks, kh, kbs)
                    sm.tma_box(K_OFF + s_ * TILE + ATOM, gmem, kb_, 64, kv0, h, b, Skv, ks, kh, kbs)
                    sm.tma_box(V_OFF + s_ * TILE, gmem, vb_, 0, kv0, h, b, Skv, vs, vh, vbs)
                    sm.tma_box(V_OFF + s_ * TILE + ATOM, gmem, vb_, 64, kv0, h, b, Skv, vs, vh, vbs)
                    for wg in range(2):
                        S = np.zeros((64, 128))
                        q_wg = Q_OFF + wg * 64 * 128
                        kbase = K_OFF + s_ * TILE
                        for kk in range(D // 16):
                            off = (kk >> 2) * ATOM + (kk & 3) * 32
                            S += kmajor_slice(sm, q_wg + off, 64) @ kmajor_slice(sm, kbase + off, 128).T
                        s = acc_to_regs(S)
                        x = st[wg]
                        p = np.zeros((4, 32, 8, 4, 2))
                        for w in range(4):
                            for l in range(32):
                                t = l % 4
                                r = s[w, l]
                                if kv0 + BN > Skv:  # mask
                                    for jj in range(16):
                                        col = kv0 + 8 * jj + 2 * t
                                        if col >= Skv:
                                            r[4 * jj] = r[4 * jj + 2] = -np.inf
                                        if col + 1 >= Skv:
                                            r[4 * jj + 1] = r[4 * jj + 3] = -np.inf
                        # row max: thread-local, then over the quad (lanes 4g .. 4g + 3)
                        for w in range(4):
                            loc = np.array([[max(s[w, l, 0::4].max(), s[w, l, 1::4].max()),
                                             max(s[w, l, 2::4].max(), s[w, l, 3::4].max())] for l in range(32)])
                            for l in range(32):
                                quad = loc[4 * (l // 4):4 * (l // 4) + 4]
                                mx = np.maximum(x["m"][w, l], quad.max(axis=0))
                                alpha = np.exp2((x["m"][w, l] - mx) * sl2)
                                x["m"][w, l] = mx
                                r = s[w, l]
                                for jj in range(16):
                                    for e in range(4):
                                        r[4 * jj + e] = np.exp2(r[4 * jj + e] * sl2 - mx[int(e >= 2)] * sl2)
                                x["l"][w, l, 0] = x["l"][w, l, 0] * alpha[0] + sum(r[4 * jj] + r[4 * jj + 1] for jj in range(16))
                                x["l"][w, l, 1] = x["l"][w, l, 1] * alpha[1] + sum(r[4 * jj + 2] + r[4 * jj + 3] for jj in range(16))
                                for jj in range(16):
                                    x["o"][w, l, 4 * jj:4 * jj + 2] *= alpha[0]
                                    x["o"][w, l, 4 * jj + 2:4 * jj + 4] *= alpha[1]
                                for kk in range(8):  # convert_p: p[kk][i] = bf16x2(s[8 kk + 2 i], s[8 kk + 2 i + 1])
                                    for i in range(4):
                                        p[w, l, kk, i] = bf16(r[8 * kk + 2 * i:8 * kk + 2 * i + 2])
                        O = regs_to_acc(x["o"])
                        vbase = V_OFF + s_ * TILE
                        for kk in range(BN // 16):
                            O += afrag_to_matrix(p, kk) @ mnmajor_slice(sm, vbase + kk * 16 * 128, 128)
                        x["o"] = acc_to_regs(O)
                # epilogue per warp: staging writes / reads, row-masked stores, lse
                ob, os_, oh, obs = lay["o"]
                for wg in range(2):
                    x = st[wg]
                    for wl in range(4):
                        stg = {}
                        banks_ok = True
                        for jj in range(16):
                            banks = set()
                            for l in range(32):
                                g, t = l // 4, l % 4
                                lq = x["l"][wl, 4 * g:4 * g + 4].sum(axis=0)  # the quad reduction of l
                                for half, row in ((0, g), (1, g + 8)):
                                    addr = row * 256 + ((jj ^ g) << 4) + 4 * t
                                    assert addr not in stg, "staging write collision"
                                    vals = x["o"][wl, l, 4 * jj + 2 * half:4 * jj + 2 * half + 2] / lq[half]
                                    stg[addr] = bf16(vals)
                                    if half == 0:
                                        banks.add((addr // 4) % 32)
                            banks_ok &= len(banks) == 32
                        assert banks_ok, "staging writes have bank conflicts"
                        assert len(stg) == 16 * 64
                        row_base = q0 + wg * 64 + wl * 16
                        for i in range(8):
                            for l in range(32):
                                idx = l + 32 * i
                                r, c = idx >> 4, idx & 15
                                row = row_base + r
                                base = r * 256 + ((c ^ (r & 7)) << 4)
                                vals = np.concatenate([stg[base + 4 * q] for q in range(4)])
                                if row < Sq:
                                    dst = ob + b * obs + h * oh + row * os_ + c * 8
                                    out[dst:dst + 8] = vals
                        if lse is not None:
                            for l in range(0, 32, 4):
                                g = l // 4
                                lq = x["l"][wl, 4 * g:4 * g + 4].sum(axis=0)
                                for half in range(2):
                                    row = row_base + g + 8 * half
                                    if row < Sq:
                                        lse[(b * H + h) * Sq + row] = x["m"][wl, l, half] * scale + math.log(lq[half])


def case(name, B, H, Sq, Skv, layout, rng, scale=None):
    scale = scale or 1 / math.sqrt(D)
    if layout == "qkv_fused":  # [B, S, 3, H, D], Sq == Skv
        S = Sq
        g = bf16(rng.standard_normal(B * S * 3 * H * D))
        st = (3 * H * D, D, 3 * H * S * D)  # seq, head, batch strides
        lay = {"q": (0,) + st, "k": (H * D,) + st, "v": (2 * H * D,) + st}
    else:  # q [B, Sq, H, D] then k, v [B, H, Skv, D] in one buffer
        nq, nkv = B * Sq * H * D, B * H * Skv * D
        g = bf16(rng.standard_normal(nq + 2 * nkv))
        lay = {"q": (0, H * D, D, Sq * H * D), "k": (nq, D, Skv * D, H * Skv * D),
               "v": (nq + nkv, D, Skv * D, H * Skv * D)}
    g = g * 1.0
    pad = 8
    lay["o"] = (0, H * (D + pad), D + pad, Sq * H * (D + pad))  # [B, Sq, H, D + pad]
    out = np.full(B * Sq * H * (D + pad), np.nan)
    lse = np.full(B * H * Sq, np.nan)
    run_kernel(g, lay, B, H, Sq, Skv, scale, out, lse)
    worst, worst_lse, bad = 0.0, 0.0, 0
    for b in range(B):
        for h in range(H):
            def mat(key, S):
                base, ss, sh, sb = lay[key]
                return np.array([g[base + b * sb + h * sh + i * ss: base + b * sb + h * sh + i * ss + D]
                                 for i in range(S)])
            q, k, v = mat("q", Sq), mat("k", Skv), mat("v", Skv)
            sc = scale * (q @ k.T)
            m = sc.max(axis=1, keepdims=True)
            e = np.exp(sc - m)
            ref = (e @ v) / e.sum(axis=1, keepdims=True)
            ref_lse = (m[:, 0] + np.log(e.sum(axis=1)))
            ob, os_, oh, obs = lay["o"]
            for i in range(Sq):
                got = out[ob + b * obs + h * oh + i * os_: ob + b * obs + h * oh + i * os_ + D]
                if np.isnan(got).any():
                    bad += 1
                    continue
                worst = max(worst, np.abs(got - ref[i]).max() / (np.abs(ref[i]).max() + 1e-30))
            worst_lse = max(worst_lse, np.abs(lse[(b * H + h) * Sq:(b * H + h + 1) * Sq] - ref_lse).max())
    gaps = sum(not np.isnan(out[(r * (D + pad)) + D:(r + 1) * (D + pad)]).all() for r in range(B * Sq * H))
    # bf16 P and bf16 output: relative error per row well under 2 %; a layout error is O(1)
    ok = bad == 0 and gaps == 0 and worst < 2e-2 and worst_lse < 1e-9
    print(f"attention_sm90_layout_emu: {name}: B={B} H={H} Sq={Sq} Skv={Skv} {layout}: max row rel err "
          f"{worst:.2e}, lse err {worst_lse:.1e}, unwritten rows {bad}, clobbered gaps {gaps}: "
          f"{'OK' if ok else 'FAIL'}")
    return ok


def main():
    rng = np.random.default_rng(1)
    ok = True
    ok &= case("exact tile", 1, 1, 128, 128, "bshd_q", rng)
    ok &= case("partial q and kv tiles, 3 kv blocks (both stages, phase wrap)", 1, 2, 130, 300, "bshd_q", rng)
    ok &= case("fused qkv, partial tiles", 2, 1, 150, 150, "qkv_fused", rng, scale=0.05)
    ok &= case("single row / key", 1, 1, 1, 1, "bshd_q", rng)
    print("attention_sm90_layout_emu:", "all OK" if ok else "FAILURES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
