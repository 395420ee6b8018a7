import CEaselCUDA
import Foundation

/// diffusers' FluxTransformer2DModel on an NVIDIA GPU: bf16 weights and activations, f32 accumulation, through
/// Easel's kernels (LayerNorm+AdaLN, QK RMSNorm, RoPE, flash attention, gated residual) and cuBLASLt GEMMs (bias and
/// GELU-tanh fused in the epilogue). The timestep/text conditioning MLPs run on the CPU (a few vector products);
/// the text encoders and the VAE stay on the CPU backend.
///
/// Layout: the residual stream of a batch is one buffer `x` [B, L+S, dim], each item's text rows then its image rows,
/// as diffusers concatenates them for attention. Double blocks run their two streams' GEMMs as strided batches over
/// those rows; q, k, v come out of one fused GEMM ([q; k; v] weights) and attention reads them in place, writing its
/// output over q. A single block's fused GEMM writes [k | v | q | gelu(mlp)] per row, so attention's output over q
/// leaves [attn | mlp] contiguous for proj_out without a copy.
public final class CUDAFluxTransformer: FluxDenoiser {
    public let config: FluxTransformerConfig
    public let device: CUDADevice
    public var backendName: String { "cuda: \(device.info.name)" }

    struct DLinear {
        let weight: DeviceBuffer     // bf16 [out, in]
        let bias: DeviceBuffer?      // bf16 [out]
        let outFeatures: Int, inFeatures: Int
    }
    struct DoubleBlock {
        let mod, modContext: DLinear
        let qkv, qkvContext: DLinear               // [q; k; v]
        let normQ, normK, normAddQ, normAddK: DeviceBuffer
        let out, addOut, ff1, ff2, ffc1, ffc2: DLinear
    }
    struct SingleBlock {
        let mod: DLinear
        let kvq: DLinear                           // [k; v; q]
        let mlp: DLinear
        let normQ, normK: DeviceBuffer
        let projOut: DLinear
    }

    let conditioner: FluxConditioner
    let xEmbedder, contextEmbedder, normOut, projOut: DLinear
    let doubleBlocks: [DoubleBlock]
    let singleBlocks: [SingleBlock]

    /// Checks what the kernels need of the configuration, then uploads every weight as bf16.
    public init(config: FluxTransformerConfig, weights w: WeightSource, device: CUDADevice) throws {
        try config.validate()
        let hd = config.attentionHeadDim
        guard hd == 64 || hd == 128 else {
            throw EngineError("the CUDA backend's attention kernel takes head_dim 64 or 128; this transformer has \(hd)")
        }
        guard config.inChannels % 8 == 0, config.jointAttentionDim % 8 == 0, config.innerDim % 8 == 0 else {
            throw EngineError("the CUDA backend needs in_channels, joint_attention_dim and the inner dim to be multiples of 8")
        }
        self.config = config
        self.device = device
        try device.openBLAS()
        let layout = FluxWeightLayout(config: config)
        conditioner = try FluxConditioner(layout: layout, weights: w)

        /// Several Linears of one input width as one GEMM ([a; b; …] weights); shapes are checked by the layout.
        func linear(_ parts: [FluxWeightLayout.LinearKeys]) throws -> DLinear {
            let inF = parts[0].weight.shape[1]
            guard parts.allSatisfy({ $0.weight.shape[1] == inF }) else {
                throw EngineError("cannot fuse \(parts.map(\.weight.key).joined(separator: ", ")): input widths differ")
            }
            var weight: [Float] = [], bias: [Float] = []
            var anyBias = false
            for keys in parts {
                let p = try w.linear(keys)
                weight += p.weight.data
                if let b = p.bias { bias += b.data; anyBias = true } else { bias += [Float](repeating: 0, count: p.outFeatures) }
            }
            return DLinear(weight: try device.upload(bf16: weight), bias: anyBias ? try device.upload(bf16: bias) : nil,
                           outFeatures: bias.count, inFeatures: inF)
        }
        func vector(_ e: FluxWeightLayout.Entry) throws -> DeviceBuffer { try device.upload(bf16: try w.vector(e).data) }

        xEmbedder = try linear([layout.xEmbedder])
        contextEmbedder = try linear([layout.contextEmbedder])
        doubleBlocks = try layout.doubleBlocks.map { b in
            // Double blocks always have the added (text) projections; the layout makes them non-nil.
            let a = b.attn
            guard let out = a.out, let addQ = a.addQ, let addK = a.addK, let addV = a.addV, let addOut = a.addOut,
                  let normAddQ = a.normAddQ, let normAddK = a.normAddK else {
                throw EngineError("FluxWeightLayout: a double block without its text-stream projections")
            }
            return DoubleBlock(
                mod: try linear([b.norm1]), modContext: try linear([b.norm1Context]),
                qkv: try linear([a.q, a.k, a.v]), qkvContext: try linear([addQ, addK, addV]),
                normQ: try vector(a.normQ), normK: try vector(a.normK),
                normAddQ: try vector(normAddQ), normAddK: try vector(normAddK),
                out: try linear([out]), addOut: try linear([addOut]),
                ff1: try linear([b.ff1]), ff2: try linear([b.ff2]),
                ffc1: try linear([b.ffContext1]), ffc2: try linear([b.ffContext2]))
        }
        singleBlocks = try layout.singleBlocks.map { b in
            let a = b.attn
            return SingleBlock(mod: try linear([b.norm]), kvq: try linear([a.k, a.v, a.q]),
                               mlp: try linear([b.projMLP]),
                               normQ: try vector(a.normQ), normK: try vector(a.normK),
                               projOut: try linear([b.projOut]))
        }
        normOut = try linear([layout.normOut])
        projOut = try linear([layout.projOut])
        for l in [xEmbedder, contextEmbedder, normOut, projOut] + doubleBlocks.flatMap({ [$0.ff1, $0.ffc1] })
            + singleBlocks.map(\.mlp) where l.outFeatures % 8 != 0 {
            throw EngineError("the CUDA backend needs every layer width to be a multiple of 8 (found \(l.outFeatures))")
        }
    }

    /// Activation buffers, kept between calls and grown when a larger batch comes.
    private var workspace: [String: DeviceBuffer] = [:]
    private func buffer(_ name: String, elements: Int) throws -> DeviceBuffer {
        if let b = workspace[name], b.bytes >= 2 * elements { return b }
        workspace[name] = nil
        let b = try device.allocate(bytes: 2 * elements)
        workspace[name] = b
        return b
    }

    /// RoPE tables [L+S, head_dim] on the device (each angle twice, for the interleaved pairs), made once per set of
    /// positions: every step of a generation has the same ids.
    private var rope: (ids: [Float], cos: DeviceBuffer, sin: DeviceBuffer)?
    private func ropeTables(txtIds: Tensor, imgIds: Tensor) throws -> (DeviceBuffer, DeviceBuffer) {
        let ids = Ops.stackRows([txtIds, imgIds])
        if let r = rope, r.ids == ids.data { return (r.cos, r.sin) }
        let (c, s) = FluxTransformer.rope(ids: ids, axes: config.axesDimsRope)
        func expand(_ t: [Float]) -> [Float] { t.flatMap { [$0, $0] } }
        let tables = (ids: ids.data, cos: try device.upload(f32: expand(c)), sin: try device.upload(f32: expand(s)))
        rope = tables
        return (tables.cos, tables.sin)
    }

    // MARK: kernel calls

    /// y[b] = epilogue(x[b] · Wᵀ + bias), x item b at `x + b·xBatch`, rows `xRow` apart (elements).
    func gemm(_ l: DLinear, x: UnsafeMutableRawPointer, xRow: Int, xBatch: Int = 0, y: UnsafeMutableRawPointer,
              yRow: Int, yBatch: Int = 0, batch: Int = 1, rows: Int, gelu: Bool = false) throws {
        var p = easel_cuda_gemm_params(
            x: x, w: l.weight.pointer, bias: l.bias.map { UnsafeRawPointer($0.pointer) }, y: y,
            batch: Int64(batch), m: Int64(rows), n: Int64(l.outFeatures), k: Int64(l.inFeatures),
            x_stride_row: Int64(xRow), w_stride_row: Int64(l.inFeatures), y_stride_row: Int64(yRow),
            x_stride_batch: Int64(xBatch), y_stride_batch: Int64(yBatch),
            epilogue: Int32(gelu ? EASEL_GEMM_GELU_TANH : EASEL_GEMM_PLAIN))
        try device.call { easel_cuda_gemm_bf16(device.handle, &p, $0, $1) }
    }

    /// LayerNorm + AdaLN of `seq` rows per item: y = norm(x)·(1 + scale) + shift, shift/scale chunks of `mod` [B, n·dim].
    func modulate(x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, batch: Int, seq: Int, rowStride: Int, batchStride: Int,
                  mod: DeviceBuffer, modWidth: Int, shiftChunk: Int, scaleChunk: Int) throws {
        let d = config.innerDim
        var p = easel_layernorm_adaln_params(
            x: x, shift: mod.bf16(at: shiftChunk * d), scale: mod.bf16(at: scaleChunk * d), y: y, mod_dtype: EASEL_DTYPE_BF16,
            batch: Int64(batch), seq: Int64(seq), dim: Int64(d),
            x_stride_batch: Int64(batchStride), x_stride_seq: Int64(rowStride),
            y_stride_batch: Int64(batchStride), y_stride_seq: Int64(rowStride),
            shift_stride_batch: Int64(modWidth), scale_stride_batch: Int64(modWidth), eps: 1e-6, stream: nil)
        try device.call { easel_cuda_layernorm_adaln_bf16(device.handle, &p, $0, $1) }
    }

    /// x += gate · y over `seq` rows per item; the gate is chunk `chunk` of `mod` [B, modWidth].
    func gatedAdd(x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer, batch: Int, seq: Int, rowStride: Int, batchStride: Int,
                  yRowStride: Int? = nil, yBatchStride: Int? = nil, mod: DeviceBuffer, modWidth: Int, chunk: Int) throws {
        let d = config.innerDim
        var p = easel_gated_residual_params(
            x: x, y: y, gate: mod.bf16(at: chunk * d), out: x, gate_dtype: EASEL_DTYPE_BF16,
            batch: Int64(batch), seq: Int64(seq), dim: Int64(d),
            x_stride_batch: Int64(batchStride), x_stride_seq: Int64(rowStride),
            y_stride_batch: Int64(yBatchStride ?? batchStride), y_stride_seq: Int64(yRowStride ?? rowStride),
            out_stride_batch: Int64(batchStride), out_stride_seq: Int64(rowStride), gate_stride_batch: Int64(modWidth), stream: nil)
        try device.call { easel_cuda_gated_residual_bf16(device.handle, &p, $0, $1) }
    }

    /// Per-head RMSNorm in place on `rows` rows `rowStride` apart, each `heads` heads of head_dim.
    func headNorm(_ x: UnsafeMutableRawPointer, rows: Int, rowStride: Int, weight: DeviceBuffer) throws {
        let hd = config.attentionHeadDim
        var p = easel_rmsnorm_params(x: x, weight: weight.pointer, y: x, n_outer: Int64(rows),
                                     n_inner: Int64(config.numAttentionHeads), dim: Int64(hd),
                                     x_stride_outer: Int64(rowStride), x_stride_inner: Int64(hd),
                                     y_stride_outer: Int64(rowStride), y_stride_inner: Int64(hd), eps: 1e-6, stream: nil)
        try device.call { easel_cuda_rmsnorm_bf16(device.handle, &p, $0, $1) }
    }

    /// RoPE on q and k, then attention over each item's L+S rows; the output overwrites q.
    func attend(q: UnsafeMutableRawPointer, k: UnsafeMutableRawPointer, v: UnsafeMutableRawPointer, batch: Int, seq: Int,
                rowStride: Int, cos: DeviceBuffer, sin: DeviceBuffer) throws {
        let h = config.numAttentionHeads, hd = config.attentionHeadDim
        let cosP = cos.pointer.assumingMemoryBound(to: Float.self), sinP = sin.pointer.assumingMemoryBound(to: Float.self)
        func rope(_ x: UnsafeMutableRawPointer) -> easel_rope_params {
            easel_rope_params(x: x, y: x, cos: cosP, sin: sinP, batch: Int64(batch), seq: Int64(seq), heads: Int64(h),
                              head_dim: Int64(hd), x_stride_batch: Int64(seq * rowStride), x_stride_seq: Int64(rowStride),
                              x_stride_head: Int64(hd), y_stride_batch: Int64(seq * rowStride), y_stride_seq: Int64(rowStride),
                              y_stride_head: Int64(hd), cos_stride_seq: Int64(hd), sin_stride_seq: Int64(hd), stream: nil)
        }
        var rq = rope(q), rk = rope(k)
        try device.call { easel_cuda_rope_qk_bf16(device.handle, &rq, &rk, $0, $1) }
        let sb = Int64(seq * rowStride), ss = Int64(rowStride), sh = Int64(hd)
        var p = easel_attention_params(
            q: q, k: k, v: v, o: q, lse: nil, batch: Int64(batch), heads: Int64(h), seq_q: Int64(seq), seq_kv: Int64(seq),
            head_dim: Int64(hd), q_stride_batch: sb, q_stride_head: sh, q_stride_seq: ss,
            k_stride_batch: sb, k_stride_head: sh, k_stride_seq: ss, v_stride_batch: sb, v_stride_head: sh, v_stride_seq: ss,
            o_stride_batch: sb, o_stride_head: sh, o_stride_seq: ss, scale: 0, stream: nil)
        try device.call { easel_cuda_attention_bf16(device.handle, &p, $0, $1) }
    }

    // MARK: forward

    public func forward(_ inputs: [FluxTransformerInput]) throws -> [Tensor] {
        // The grouped low-rank GEMM for per-item LoRAs is not written for this backend yet: say so, never ignore them.
        if inputs.contains(where: { !($0.lora?.isEmpty ?? true) }) {
            throw EngineError("LoRAs are not supported on the cuda backend yet; serve this model with backend \"cpu\" to use them")
        }
        device.lock.lock()
        defer { device.lock.unlock() }
        let nb = inputs.count
        let nT = inputs[0].encoderHiddenStates.rows, nI = inputs[0].hiddenStates.rows, nAll = nT + nI
        for i in inputs {
            precondition(i.encoderHiddenStates.rows == nT && i.hiddenStates.rows == nI, "batch items must share sizes")
        }
        let d = config.innerDim, cin = config.inChannels, jd = config.jointAttentionDim

        // Conditioning on the CPU: silu(temb) [B, dim] is the input of every modulation GEMM.
        var temb = Ops.stackRows(inputs.map { conditioner($0) })
        Ops.siluInPlace(&temb)
        let tembD = try buffer("temb", elements: nb * d)
        try device.copy(bf16: temb.data, to: tembD)

        let (cosD, sinD) = try ropeTables(txtIds: inputs[0].txtIds, imgIds: inputs[0].imgIds)

        // Embed both streams into x [B, L+S, dim].
        let x = try buffer("x", elements: nb * nAll * d)
        let hin = try buffer("hidden", elements: nb * nI * cin), ctx = try buffer("context", elements: nb * nT * jd)
        try device.copy(bf16: Ops.stackRows(inputs.map(\.hiddenStates)).data, to: hin)
        try device.copy(bf16: Ops.stackRows(inputs.map(\.encoderHiddenStates)).data, to: ctx)
        let xb = nAll * d
        try gemm(xEmbedder, x: hin.pointer, xRow: cin, xBatch: nI * cin, y: x.bf16(at: nT * d), yRow: d, yBatch: xb, batch: nb, rows: nI)
        try gemm(contextEmbedder, x: ctx.pointer, xRow: jd, xBatch: nT * jd, y: x.pointer, yRow: d, yBatch: xb, batch: nb, rows: nT)

        let n = try buffer("normed", elements: nb * nAll * d)
        let tmp = try buffer("branch", elements: nb * nAll * d)
        // The two streams of a double block: (first row, rows) within an item.
        let streams = [(offset: 0, rows: nT), (offset: nT, rows: nI)]

        if !doubleBlocks.isEmpty {
            let qkv = try buffer("qkv", elements: nb * nAll * 3 * d)
            let ffWidth = doubleBlocks.map { max($0.ff1.outFeatures, $0.ffc1.outFeatures) }.max()!
            let hidden = try buffer("ff", elements: nb * nAll * ffWidth)
            let modT = try buffer("mod", elements: nb * 6 * d), modI = try buffer("mod2", elements: nb * 6 * d)
            for b in doubleBlocks {
                try gemm(b.modContext, x: tembD.pointer, xRow: d, y: modT.pointer, yRow: 6 * d, rows: nb)
                try gemm(b.mod, x: tembD.pointer, xRow: d, y: modI.pointer, yRow: 6 * d, rows: nb)
                let perStream = [(mod: modT, qkv: b.qkvContext, normQ: b.normAddQ, normK: b.normAddK, out: b.addOut, ff1: b.ffc1, ff2: b.ffc2),
                                 (mod: modI, qkv: b.qkv, normQ: b.normQ, normK: b.normK, out: b.out, ff1: b.ff1, ff2: b.ff2)]
                for (st, l) in zip(streams, perStream) {
                    try modulate(x: x.bf16(at: st.offset * d), y: n.bf16(at: st.offset * d), batch: nb, seq: st.rows,
                                 rowStride: d, batchStride: xb, mod: l.mod, modWidth: 6 * d, shiftChunk: 0, scaleChunk: 1)
                    try gemm(l.qkv, x: n.bf16(at: st.offset * d), xRow: d, xBatch: xb, y: qkv.bf16(at: st.offset * 3 * d),
                             yRow: 3 * d, yBatch: nAll * 3 * d, batch: nb, rows: st.rows)
                    for i in 0..<nb {
                        let row0 = (i * nAll + st.offset) * 3 * d
                        try headNorm(qkv.bf16(at: row0), rows: st.rows, rowStride: 3 * d, weight: l.normQ)
                        try headNorm(qkv.bf16(at: row0 + d), rows: st.rows, rowStride: 3 * d, weight: l.normK)
                    }
                }
                try attend(q: qkv.pointer, k: qkv.bf16(at: d), v: qkv.bf16(at: 2 * d), batch: nb, seq: nAll, rowStride: 3 * d,
                           cos: cosD, sin: sinD)
                for (st, l) in zip(streams, perStream) {
                    let o = st.offset
                    try gemm(l.out, x: qkv.bf16(at: o * 3 * d), xRow: 3 * d, xBatch: nAll * 3 * d, y: tmp.bf16(at: o * d),
                             yRow: d, yBatch: xb, batch: nb, rows: st.rows)
                    try gatedAdd(x: x.bf16(at: o * d), y: tmp.bf16(at: o * d), batch: nb, seq: st.rows, rowStride: d, batchStride: xb,
                                 mod: l.mod, modWidth: 6 * d, chunk: 2)
                    try modulate(x: x.bf16(at: o * d), y: n.bf16(at: o * d), batch: nb, seq: st.rows, rowStride: d, batchStride: xb,
                                 mod: l.mod, modWidth: 6 * d, shiftChunk: 3, scaleChunk: 4)
                    let fw = l.ff1.outFeatures
                    try gemm(l.ff1, x: n.bf16(at: o * d), xRow: d, xBatch: xb, y: hidden.bf16(at: o * fw), yRow: fw,
                             yBatch: nAll * fw, batch: nb, rows: st.rows, gelu: true)
                    try gemm(l.ff2, x: hidden.bf16(at: o * fw), xRow: fw, xBatch: nAll * fw, y: tmp.bf16(at: o * d), yRow: d,
                             yBatch: xb, batch: nb, rows: st.rows)
                    try gatedAdd(x: x.bf16(at: o * d), y: tmp.bf16(at: o * d), batch: nb, seq: st.rows, rowStride: d, batchStride: xb,
                                 mod: l.mod, modWidth: 6 * d, chunk: 5)
                }
            }
        }

        if let first = singleBlocks.first {
            let mw = first.mlp.outFeatures, fw = 3 * d + mw
            let fused = try buffer("fused", elements: nb * nAll * fw)
            let mod = try buffer("mod", elements: nb * 6 * d)
            let rows = nb * nAll
            for b in singleBlocks {
                guard b.mlp.outFeatures == mw else { throw EngineError("single blocks' proj_mlp widths differ (\(b.mlp.outFeatures), \(mw))") }
                try gemm(b.mod, x: tembD.pointer, xRow: d, y: mod.pointer, yRow: 3 * d, rows: nb)
                try modulate(x: x.pointer, y: n.pointer, batch: nb, seq: nAll, rowStride: d, batchStride: xb,
                             mod: mod, modWidth: 3 * d, shiftChunk: 0, scaleChunk: 1)
                try gemm(b.kvq, x: n.pointer, xRow: d, y: fused.pointer, yRow: fw, rows: rows)
                try gemm(b.mlp, x: n.pointer, xRow: d, y: fused.bf16(at: 3 * d), yRow: fw, rows: rows, gelu: true)
                try headNorm(fused.bf16(at: 2 * d), rows: rows, rowStride: fw, weight: b.normQ)
                try headNorm(fused.pointer, rows: rows, rowStride: fw, weight: b.normK)
                try attend(q: fused.bf16(at: 2 * d), k: fused.pointer, v: fused.bf16(at: d), batch: nb, seq: nAll, rowStride: fw,
                           cos: cosD, sin: sinD)
                // proj_out reads [attention | gelu(mlp)]: columns 2·dim ..< 3·dim + mlp of each fused row.
                try gemm(b.projOut, x: fused.bf16(at: 2 * d), xRow: fw, y: tmp.pointer, yRow: d, rows: rows)
                try gatedAdd(x: x.pointer, y: tmp.pointer, batch: nb, seq: nAll, rowStride: d, batchStride: xb,
                             mod: mod, modWidth: 3 * d, chunk: 2)
            }
        }

        // AdaLayerNormContinuous on the image rows (chunk 0 is scale, chunk 1 shift), then proj_out.
        let modOut = try buffer("modOut", elements: nb * 2 * d)
        try gemm(normOut, x: tembD.pointer, xRow: d, y: modOut.pointer, yRow: 2 * d, rows: nb)
        try modulate(x: x.bf16(at: nT * d), y: n.bf16(at: nT * d), batch: nb, seq: nI, rowStride: d, batchStride: xb,
                     mod: modOut, modWidth: 2 * d, shiftChunk: 1, scaleChunk: 0)
        let cout = projOut.outFeatures
        let out = try buffer("out", elements: nb * nI * cout)
        try gemm(projOut, x: n.bf16(at: nT * d), xRow: d, xBatch: xb, y: out.pointer, yRow: cout, yBatch: nI * cout, batch: nb, rows: nI)
        let all = try device.download(bf16: out, count: nb * nI * cout)
        return (0..<nb).map { Tensor(shape: [nI, cout], data: Array(all[($0 * nI * cout)..<(($0 + 1) * nI * cout)])) }
    }
}
