import ArgumentParser
import EaselEngine
import Foundation

extension BackendPreference: ExpressibleByArgument {}

struct CUDAParity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cuda-parity",
        abstract: "Run random FLUX transformers (head_dim 64 and 128) on the CPU and the CUDA backend; compare.",
        discussion: """
        Each case: one transformer call on a batch (relative error of every output against the CPU backend, f32), \
        then four Euler steps of rectified flow from the same noise (PSNR of the results mapped to [0, 1]). \
        Fails (exit 1) above 2e-2 relative error or below 30 dB. Prints RESULT lines for Scripts/gpu-check.
        """)

    @Option(help: "Seed of the random weights and inputs.") var seed: UInt64 = 1
    @Flag(help: "Only the two small cases (the third is FLUX.1's width, 24 x 128: slow without a GPU).") var quick = false

    func run() throws {
        let device: CUDADevice
        do { device = try BackendResolver.cudaProbe.get() } catch { print("cuda: unavailable: \(error.message)"); throw ExitCode(2) }
        print("device: \(device.info.summary)")
        var failed = false
        // (heads, head_dim, double, single, image latent side, text tokens, batch, guidance)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Bool)] = [
            (2, 64, 2, 2, 8, 8, 3, false), (4, 128, 2, 3, 16, 24, 2, true), (24, 128, 1, 1, 32, 64, 1, false),
        ]
        setvbuf(stdout, nil, _IOLBF, 0)
        for (h, hd, nd, ns, side, txt, batch, guidance) in cases.prefix(quick ? 2 : cases.count) {
            var c = FluxTransformerConfig()
            c.numAttentionHeads = h; c.attentionHeadDim = hd; c.numLayers = nd; c.numSingleLayers = ns
            c.inChannels = 64; c.jointAttentionDim = 256; c.pooledProjectionDim = 128; c.guidanceEmbeds = guidance
            c.axesDimsRope = hd == 64 ? [8, 28, 28] : [16, 56, 56]
            let w = RandomFluxWeights(config: c, seed: seed)
            let cpu = try FluxTransformer(config: c, weights: w)
            let gpu = try CUDAFluxTransformer(config: c, weights: w, device: device)
            let inputs = RandomFluxWeights.inputs(c, count: batch, textTokens: txt, latentHeight: side, latentWidth: side, seed: seed)
            let want = cpu.forward(inputs), got = try gpu.forward(inputs)
            var worst = 0.0
            for (g, r) in zip(got, want) {
                var num = 0.0, den = 0.0
                for (a, b) in zip(g.data, r.data) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
                worst = max(worst, (num / max(den, 1e-30)).squareRoot())
            }
            // Four Euler steps from the same noise.
            func denoise(_ t: FluxDenoiser) throws -> [Float] {
                try t.eulerSample(inputs, sigmas: [1, 0.75, 0.5, 0.25, 0]).flatMap { $0.data.map { min(max($0 / 2 + 0.5, 0), 1) } }
            }
            let a = try denoise(cpu), b = try denoise(gpu)
            let mse = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)
            let psnr = 10 * log10(1 / max(mse, 1e-20))
            let ok = worst <= 2e-2 && psnr >= 30
            failed = failed || !ok
            let name = "h\(h)x\(hd) blocks \(nd)+\(ns) tokens \(txt)+\(side * side / 4) batch \(batch)\(guidance ? " guidance" : "")"
            print(String(format: "RESULT cuda_parity %@ rel_err %.2e psnr_db %.1f %@", name, worst, psnr, ok ? "PASS" : "FAIL"))
        }
        if failed { throw ExitCode(1) }
    }
}

struct BenchTransformer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-transformer",
        abstract: "Time one transformer call (one denoising step) with random weights at FLUX.1's dimensions.",
        discussion: """
        FLUX.1-schnell's transformer (19 double + 38 single blocks, 24 heads x 128, ~11.9 B parameters, bf16 on the GPU) \
        with seeded random weights; --distinct-blocks 1 gives every block the values of block 0 (the device still holds \
        all of them), so the host generates ~0.5 B values instead of 12 B. Prints a RESULT line with the median time.
        """)

    @Option(help: "cpu, cuda or auto.") var backend: BackendPreference = .cuda
    @Option(help: "Image width in pixels (latents: /8, tokens: /16 per side).") var width: Int = 1024
    @Option(help: "Image height in pixels.") var height: Int = 1024
    @Option(help: "T5 tokens (FLUX.1-schnell: 256, dev: 512).") var textTokens: Int = 512
    @Option(help: "Images per call.") var batch: Int = 1
    @Option(help: "Timed calls after one warm-up call.") var `repeat`: Int = 5
    @Option(help: "Blocks with their own random values (default 1).") var distinctBlocks: Int = 1
    @Option(help: "Double blocks (default FLUX.1: 19).") var doubleBlocks: Int = 19
    @Option(help: "Single blocks (default FLUX.1: 38).") var singleBlocks: Int = 38

    func run() throws {
        var c = RandomFluxWeights.flux1
        c.numLayers = doubleBlocks; c.numSingleLayers = singleBlocks
        guard width % 16 == 0, height % 16 == 0, width > 0, height > 0 else { throw ValidationError("width and height: multiples of 16") }
        let weights = RandomFluxWeights(config: c, seed: 0, distinctBlocks: distinctBlocks)
        let t0 = Date()
        let model: FluxDenoiser
        let resolved: EngineBackend
        do { resolved = try BackendResolver.resolve(backend).get() } catch { throw ValidationError(error.message) }
        switch resolved {
        case .cpu: model = try FluxTransformer(config: c, weights: weights)
        case .cuda(let d): model = try CUDAFluxTransformer(config: c, weights: weights, device: d)
        }
        let load = Date().timeIntervalSince(t0)
        let inputs = RandomFluxWeights.inputs(c, count: batch, textTokens: textTokens, latentHeight: height / 8, latentWidth: width / 8, seed: 9)
        print(String(format: "%@: %.2f B parameters, loaded in %.1f s; %d image + %d text tokens, batch %d",
                     model.backendName, Double(weights.parameterCount) / 1e9, load, inputs[0].hiddenStates.rows, textTokens, batch))
        _ = try model.forward(inputs)
        var times: [Double] = []
        for _ in 0..<max(1, `repeat`) {
            let s = Date()
            _ = try model.forward(inputs)
            times.append(Date().timeIntervalSince(s) * 1000)
        }
        times.sort()
        let median = times[times.count / 2]
        print(String(format: "RESULT flux_step easel_%@ %dx%d batch %d ms %.2f (min %.2f, max %.2f, %d runs)",
                     backend.rawValue, width, height, batch, median, times[0], times[times.count - 1], times.count))
    }
}
