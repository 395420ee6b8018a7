#!/usr/bin/env python3
"""CPU emulation of fp8_gemm.cu's shared-memory addressing and accumulator-fragment mapping (no GPU needed).

Under the PTX ISA's model -- TMA SWIZZLE_128B writes a 128-byte box row r with its 16-byte chunk c at chunk
c ^ (r % 8); wgmma's K-major 128B-swizzle descriptor reads element (row i, byte k) at
swz(start + (i // 8) * SBO + (i % 8) * 128 + k), swz XORing address bits 4-6 with 7-9 -- it places a random A tile
(128 x 128) and W tile (256 x 128) the way the producer does, reads them back the way each consumer warpgroup's
descriptors do (warpgroup offset 64 rows, W half offset, +32 bytes per k32 step), maps the m64n128 accumulator to
threads and registers, applies the epilogue's (row, column) formula and compares with the plain product. It checks
the kernel's constants and index arithmetic against the model, not the model against the hardware.
Keep the constants in sync with Kernels/src/fp8_gemm.cu.   Run: python3 Kernels/tools/fp8_layout_emu.py  (seconds)
"""
import random
kBM, kBN, kBK = 128, 256, 128
kABytes, kHalfBytes = kBM * kBK, (kBN // 2) * kBK
SBO = 1024
def swz(a): return a ^ (((a >> 7) & 7) << 4)
random.seed(1)
A = [[random.randint(-8, 8) for _ in range(kBK)] for _ in range(kBM)]
B = [[random.randint(-8, 8) for _ in range(kBK)] for _ in range(kBN)]
smem = {}
stage = 3 * (kABytes + 2 * kHalfBytes) + 1024 * 7   # some 1024-aligned stage base
def tma_write(base, M):
    for r, row in enumerate(M):
        for k, v in enumerate(row):
            c, b = k // 16, k % 16
            smem[base + r * 128 + ((c ^ (r % 8)) * 16) + b] = v
tma_write(stage, A)
tma_write(stage + kABytes, B[:128])            # C = 1: two 128-row loads
tma_write(stage + kABytes + kHalfBytes, B[128:])
def desc_read(start, i, k): return smem[swz(start + (i // 8) * SBO + (i % 8) * 128 + k)]
bad = 0
for wgx in range(2):
    sa = stage + wgx * (64 * kBK)
    for h in range(2):
        sb = stage + kABytes + h * kHalfBytes
        D = [[0] * 128 for _ in range(64)]
        for kk in range(kBK // 32):
            for i in range(64):
                arow = [desc_read(sa + 32 * kk, i, k) for k in range(32)]
                for n in range(128):
                    D[i][n] += sum(arow[k] * desc_read(sb + 32 * kk, n, k) for k in range(32))
        # fragment: warp wl, lane l, register 4j + 2e + c -> row 16 wl + l/4 + 8e, col 8j + 2(l%4) + c
        for wl in range(4):
            for lane in range(32):
                g, t = lane >> 2, lane & 3
                for j in range(16):
                    for e in range(2):
                        for c in range(2):
                            v = D[16 * wl + g + 8 * e][8 * j + 2 * t + c]
                            # the kernel's epilogue mapping
                            row = wgx * 64 + wl * 16 + g + 8 * e
                            col = h * 128 + j * 8 + 2 * t + c
                            want = sum(A[row][k] * B[col][k] for k in range(kBK))
                            bad += v != want
print(f"fp8_layout_emu: {bad} mismatches")
raise SystemExit(1 if bad else 0)
