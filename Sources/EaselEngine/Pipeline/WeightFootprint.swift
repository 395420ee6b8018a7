import Foundation

/// What a pipeline folder's weights take once loaded, read from the safetensors headers only (no weights are read):
/// the engine widens every weight it keeps on the host to f32, and the CUDA backend keeps the transformer's on the
/// device in bf16. Tensors the loader skips (T5's second copy of its token embedding, `position_ids` buffers) are
/// not counted. Activations, step caches and LoRAs are not part of it.
public enum WeightFootprint {
    /// Bytes per component, in load order (`transformer`, `text_encoder`, `text_encoder_2`, `vae`: whichever exist).
    public static func components(folder: URL, cudaTransformer: Bool = false) throws -> [(component: String, bytes: Int)] {
        var out: [(String, Int)] = []
        let stores: [(String, String)] = [("transformer", "diffusion_pytorch_model"), ("text_encoder", "model"),
                                          ("text_encoder_2", "model"), ("vae", "diffusion_pytorch_model")]
        for (component, base) in stores {
            let dir = folder.appendingPathComponent(component)
            // The VAE is optional (a pipeline without one returns latents); the others fail to load anyway.
            if component == "vae" && !FileManager.default.fileExists(atPath: dir.path) { continue }
            let store = try WeightStore(folder: dir, baseName: base)
            let perElement = component == "transformer" && cudaTransformer ? 2 : 4
            var bytes = 0
            for file in store.files {
                let names = Set(file.names)
                for (name, entry) in file.entries {
                    if name.hasSuffix("position_ids") { continue }
                    if component == "text_encoder_2" && name == "shared.weight" && names.contains("encoder.embed_tokens.weight") {
                        continue
                    }
                    let (b, overflow) = entry.count.multipliedReportingOverflow(by: perElement)
                    guard !overflow else { throw EngineError("component \(component): weight \(name) is too large") }
                    bytes += b
                }
            }
            out.append((component, bytes))
        }
        return out
    }

    /// The whole pipeline's weights in bytes.
    public static func bytes(folder: URL, cudaTransformer: Bool = false) throws -> Int {
        try components(folder: folder, cudaTransformer: cudaTransformer).reduce(0) { $0 + $1.bytes }
    }
}
