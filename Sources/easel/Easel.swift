import ArgumentParser
import EaselAPI
import EaselEngine
import EaselJobs
import Foundation
import Logging

@main
struct Easel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "easel",
        abstract: "Easel: serve and run FLUX-family diffusion pipelines.",
        subcommands: [Serve.self, WebhookSecretCommand.self, Generate.self, Tokenize.self, CUDAInfo.self, CUDAParity.self,
                      BenchTransformer.self, BenchComponents.self, BenchStepCache.self]
    )
}

struct ModelOption: ParsableArguments {
    @Option(name: .long, help: "A pipeline folder in diffusers' layout (model_index.json, transformer/, …).")
    var model: String

    @Option(name: .long, help: "CPU threads for matrix products (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Where the transformer runs: cpu, cuda or auto (text encoders and VAE: the CPU).")
    var backend: BackendPreference = .cpu

    func load() throws -> FluxPipeline {
        Engine.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        do {
            return try BackendResolver.loadPipeline(folder: URL(fileURLWithPath: model), preference: backend) {
                FileHandle.standardError.write(Data("the CUDA backend cannot run this model, using the CPU: \($0)\n".utf8))
            }
        } catch let e as CUDAError { throw ValidationError(e.message) }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate images from a text prompt and write them as PNG.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "The text prompt.") var prompt: String
    @Option(help: "Negative prompt (models with true classifier-free guidance only).") var negativePrompt: String = ""
    @Option(help: "Image width in pixels (a multiple of the model's size step; default: the model's).") var width: Int?
    @Option(help: "Image height in pixels (default: the model's).") var height: Int?
    @Option(help: "Denoising steps (default: the model's).") var steps: Int?
    @Option(help: "Guidance scale (default: the model's; ignored by models without guidance).") var guidance: Double?
    @Option(help: "Random seed; image i uses seed + i (default: random).") var seed: UInt64?
    @Option(help: "Number of images.") var numImages: Int = 1
    @Option(help: "T5 sequence length (default: the model's, 512 for FLUX.1).") var maxSequenceLength: Int?
    @Option(help: "Initial noise: a safetensors file with one f32 tensor 'latents', packed [batch, sequence, channels*4], as diffusers' FluxPipeline(latents=…).")
    var latents: String?
    @Option(help: "Image-to-image: a PNG of the output size to start from. With it, --latents is the noise mixed into the image's latents.")
    var image: String?
    @Option(help: "Inpainting: a PNG mask of the image's size; white (≥ 50 %) is repainted, black kept.") var mask: String?
    @Option(help: "With --image: the part of the schedule that runs, in (0, 1] (default 0.6, as diffusers).") var strength: Double = 0.6
    @Option(help: "A LoRA safetensors file (diffusers/PEFT or kohya FLUX keys), optionally with its scale: FILE[:SCALE] (default 1). Repeat to stack.")
    var lora: [String] = []
    @Option(help: "Step caching: skip all but the first transformer block on steps where its residual changed by less than this (relative L1; e.g. 0.1). Default: off.")
    var cacheThreshold: Double?
    @Option(help: "Output path: .png, .jpg/.jpeg or .webp picks the format (anything else is PNG); with several images, NAME-0.png, NAME-1.png, …")
    var out: String
    @Option(help: "JPEG and WebP quality, 1...100 (WebP 100 is lossless); PNG ignores it.") var quality: Int = ImageFormat.defaultQuality
    @Option(help: "Also write the images before 8-bit rounding, as one f32 tensor 'images' [batch, 3, H, W], to this safetensors file (for parity checks).")
    var dumpRaw: String?
    @Option(help: "Run the generation this many times and report the best time (benchmarking).") var `repeat`: Int = 1

    func validate() throws {
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1...100") }
    }

    func run() throws {
        let loadStart = Date()
        let pipe = try modelOption.load()
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let d = pipe.defaults
        var req = GenerationRequest(prompt: prompt, width: width ?? d.width, height: height ?? d.height,
                                    steps: steps ?? d.steps, guidance: guidance ?? d.guidance,
                                    seed: seed ?? UInt64.random(in: 0...UInt64(UInt32.max)), numImages: numImages)
        req.negativePrompt = negativePrompt
        req.maxSequenceLength = maxSequenceLength
        if let latents {
            let f = try SafeTensorsFile(url: URL(fileURLWithPath: latents))
            req.latents = try f.tensor("latents")
        }
        if let image {
            let t = try ImageInput.image(png: try Data(contentsOf: URL(fileURLWithPath: image)))
            req.image = t
            // The output takes the image's size unless given.
            if width == nil { req.width = t.shape[2] }
            if height == nil { req.height = t.shape[1] }
            req.strength = strength
        }
        if let mask { req.mask = try ImageInput.mask(png: try Data(contentsOf: URL(fileURLWithPath: mask))) }
        if !lora.isEmpty {
            req.lora = LoRAStack(try lora.map { spec in
                var path = spec, scale: Float = 1
                if let colon = spec.lastIndex(of: ":"), let s = Float(spec[spec.index(after: colon)...]) {
                    path = String(spec[..<colon]); scale = s
                }
                return LoRAStack.Entry(adapter: try LoRALoader.load(url: URL(fileURLWithPath: path), targets: pipe.loraTargets), scale: scale)
            })
        }
        req.cacheThreshold = cacheThreshold
        var images: [Tensor] = []
        var best = Double.infinity
        var passes = (total: 0, cached: 0)
        for _ in 0..<max(1, self.`repeat`) {
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
            let start = Date()
            let output = try pipe.generateBatchOutputs([req]) { _, done, total in bar.update(done, total); return true }[0].get()
            images = output.images
            passes = (output.transformerPasses, output.cachedPasses)
            best = min(best, Date().timeIntervalSince(start))
            bar.finish()
        }
        if let dumpRaw {
            let h = images[0].shape[1], w = images[0].shape[2]
            let all = Tensor(shape: [images.count, 3, h, w], data: images.flatMap(\.data))
            try SafeTensorsWriter.write([("images", all)], to: URL(fileURLWithPath: dumpRaw))
        }
        let outURL = URL(fileURLWithPath: out)
        let ext = outURL.pathExtension.lowercased()
        let format = ImageFormat(fileExtension: ext == "jpg" ? "jpeg" : ext) ?? .png
        for (i, img) in images.enumerated() {
            let url = images.count == 1 ? outURL : Self.indexed(outURL, i)
            let bytes = try format.encode(rgb: PNGEncoder.rgb(fromCHW: img), width: img.shape[2], height: img.shape[1],
                                          quality: quality)
            try bytes.write(to: url, options: .atomic)
            FileHandle.standardError.write("wrote \(url.path) (seed \(req.seed &+ UInt64(i)))\n".data(using: .utf8)!)
        }
        FileHandle.standardError.write(String(format: "time: load %.3f s, generate best %.4f s\n", loadSeconds, best).data(using: .utf8)!)
        FileHandle.standardError.write("transformer passes: \(passes.total) (\(passes.total - passes.cached) full, \(passes.cached) cached)\n".data(using: .utf8)!)
    }

    static func indexed(_ url: URL, _ i: Int) -> URL {
        let ext = url.pathExtension.isEmpty ? "png" : url.pathExtension
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent("\(stem)-\(i).\(ext)")
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids exactly as the pipeline feeds each text encoder, padding included.")

    @Option(help: "A pipeline folder in diffusers' layout.") var model: String
    @Option(help: "The text to tokenize.") var text: String
    @Option(help: "T5 sequence length (default: the model's, 512 for FLUX.1).") var maxSequenceLength: Int?

    func run() throws {
        let folder = URL(fileURLWithPath: model)
        let easel = try EaselModelConfig.load(folder: folder)
        let t1 = try Tokenizer.load(folder: folder.appendingPathComponent("tokenizer"))
        let t2 = try Tokenizer.load(folder: folder.appendingPathComponent("tokenizer_2"))
        let ids1 = t1.encodeForPipeline(text, maxLength: t1.modelMaxLength ?? 77)
        let ids2 = t2.encodeForPipeline(text, maxLength: maxSequenceLength ?? easel.maxSequenceLength)
        print("{\"tokenizer\": [\(ids1.map(String.init).joined(separator: ", "))], \"tokenizer_2\": [\(ids2.map(String.init).joined(separator: ", "))]}")
    }
}

struct CUDAInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cuda-info",
        abstract: "Load the CUDA runtime and the kernel library as the daemon would; print the device or why not.")

    @Option(help: "The libcudart to load (default: $EASEL_CUDART, then the usual sonames).") var runtime: String?
    @Option(help: "The kernel library (default: $EASEL_KERNELS_LIB, beside the executable, or build/kernels/).")
    var kernels: String?

    func run() throws {
        do {
            let device = try CUDADevice(runtimePath: runtime, kernelLibrary: kernels ?? CUDADevice.defaultKernelLibrary)
            print("cuda: \(device.info.summary); kernels: \(kernels ?? CUDADevice.defaultKernelLibrary)")
        } catch let error as CUDAError {
            print("cuda: unavailable: \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let enabled: Bool
    let start = Date()
    init(enabled: Bool) { self.enabled = enabled }
    func update(_ done: Int, _ total: Int) {
        guard enabled else { return }
        let width = 30, filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %d/%d steps  %.1fs", bar, done, total, Date().timeIntervalSince(start))
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }
    func finish() { if enabled { FileHandle.standardError.write("\n".data(using: .utf8)!) } }
}
