import ArgumentParser
import EaselEngine
import Foundation

struct BenchStepCache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-step-cache",
        abstract: "Step caching on a mid-size random FLUX transformer: threshold -> full passes, time, PSNR vs uncached.",
        discussion: """
        A seeded random FluxTransformer2DModel (4 + 8 blocks, 4 heads x 128, 64 latent channels: the 'mid' size of \
        Scripts/bench-cpu) denoises a batch of random latents over FLUX.1-dev's schedule (dynamic shift), once \
        uncached and once per threshold. The PSNR of the final latents against the uncached ones uses the reference's \
        peak-to-peak range as the peak. Random weights are not a trained model: how often a trained model's first block \
        stays still is measured on easel-shapes (Scripts/bench-cache).
        """)

    @Option(help: "Thresholds, comma-separated (0, the reference, is always run first).") var thresholds = "0.1,0.2,0.4,0.6"
    @Option(help: "Denoising steps.") var steps = 28
    @Option(help: "Images per batch.") var batch = 2
    @Option(help: "Image size in pixels (latents /8, tokens /16 per side).") var size = 256
    @Option(help: "T5 tokens.") var textTokens = 64
    @Option(help: "CPU threads.") var threads: Int?

    func run() throws {
        Engine.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        var c = FluxTransformerConfig()
        c.inChannels = 64; c.numLayers = 4; c.numSingleLayers = 8; c.attentionHeadDim = 128; c.numAttentionHeads = 4
        c.jointAttentionDim = 256; c.pooledProjectionDim = 256; c.axesDimsRope = [16, 56, 56]; c.guidanceEmbeds = true
        guard size % 16 == 0, size > 0 else { throw ValidationError("--size: a multiple of 16") }
        let model = try FluxTransformer(config: c, weights: RandomFluxWeights(config: c, seed: 1))
        let inputs = RandomFluxWeights.inputs(c, count: batch, textTokens: textTokens, latentHeight: size / 8,
                                              latentWidth: size / 8, seed: 5)
        var sc = FlowMatchEulerConfig()
        sc.shift = 3; sc.useDynamicShifting = true
        let (sigmas, _, _) = FlowMatchEulerScheduler(config: sc).schedule(steps: steps, imageSeqLen: inputs[0].hiddenStates.rows)

        func sample(_ threshold: Float) throws -> (latents: [Tensor], full: Int, total: Int, seconds: Double, change: Float) {
            let caches = inputs.map { _ in threshold > 0 ? StepCache(threshold: threshold) : nil }
            var xs = inputs.map(\.hiddenStates)
            let start = Date()
            for k in 0..<(sigmas.count - 1) {
                var step = inputs
                for i in step.indices { step[i].hiddenStates = xs[i]; step[i].timestep = sigmas[k]; step[i].cache = caches[i] }
                let v = try model.forward(step)
                for i in xs.indices { FlowMatchEulerScheduler.step(&xs[i], velocity: v[i], sigma: sigmas[k], sigmaNext: sigmas[k + 1]) }
            }
            let total = (sigmas.count - 1) * inputs.count
            let skipped = caches.reduce(0) { $0 + ($1?.skippedPasses ?? 0) }
            let changes = caches.flatMap { $0?.changes ?? [] }.sorted()
            return (xs, total - skipped, total, Date().timeIntervalSince(start), changes.isEmpty ? .nan : changes[changes.count / 2])
        }
        let ref = try sample(0)
        print("random FLUX transformer \(c.numLayers)+\(c.numSingleLayers) blocks, \(c.numAttentionHeads)x\(c.attentionHeadDim), "
              + "\(inputs[0].hiddenStates.rows) image + \(textTokens) text tokens, batch \(batch), \(steps) steps, "
              + "\(threads ?? ProcessInfo.processInfo.activeProcessorCount) threads")
        print("| threshold | full passes | fewer passes | seconds | speed-up | PSNR vs uncached (dB) | median first-block change |")
        print("|---|---|---|---|---|---|---|")
        print(String(format: "| 0 | %d/%d | 1.00x | %.2f | 1.00x | reference |", ref.full, ref.total, ref.seconds))
        for t in thresholds.split(separator: ",").compactMap({ Float($0) }) where t > 0 {
            let r = try sample(t)
            var mse = 0.0, lo = Float.infinity, hi = -Float.infinity
            var n = 0
            for (a, b) in zip(r.latents, ref.latents) {
                for j in 0..<a.count {
                    let d = Double(a.data[j] - b.data[j]); mse += d * d
                    lo = min(lo, b.data[j]); hi = max(hi, b.data[j])
                }
                n += a.count
            }
            mse /= Double(n)
            let range = Double(hi - lo)
            let psnr = mse == 0 ? "identical" : String(format: "%.1f", 10 * log10(range * range / mse))
            print(String(format: "| %g | %d/%d | %.2fx | %.2f | %.2fx | %@ | %.3f |", t, r.full, r.total,
                         Double(ref.full) / Double(r.full), r.seconds, ref.seconds / r.seconds, psnr, r.change))
        }
    }
}
