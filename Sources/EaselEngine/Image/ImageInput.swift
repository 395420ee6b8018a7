import Foundation

/// PNG files as the pipeline takes them for image-to-image and inpainting.
public enum ImageInput {
    /// A PNG → [3, H, W] in [0, 1] (8-bit values / 255, as diffusers' VaeImageProcessor reads a PIL image).
    public static func image(png data: Data, maxPixels: Int = PNGEncoder.defaultMaxPixels) throws -> Tensor {
        let d = try PNGEncoder.decode(data, maxPixels: maxPixels)
        let hw = d.width * d.height
        var out = [Float](repeating: 0, count: 3 * hw)
        for p in 0..<hw { for c in 0..<3 { out[c * hw + p] = Float(d.rgb[3 * p + c]) / 255 } }
        return Tensor(shape: [3, d.height, d.width], data: out)
    }

    /// A PNG mask → [1, H, W] in [0, 1]: its luminance as PIL's convert("L") computes it
    /// ((19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, exact for grey images). White (≥ 0.5) is repainted.
    public static func mask(png data: Data, maxPixels: Int = PNGEncoder.defaultMaxPixels) throws -> Tensor {
        let d = try PNGEncoder.decode(data, maxPixels: maxPixels)
        let hw = d.width * d.height
        var out = [Float](repeating: 0, count: hw)
        for p in 0..<hw {
            let r = UInt32(d.rgb[3 * p]), g = UInt32(d.rgb[3 * p + 1]), b = UInt32(d.rgb[3 * p + 2])
            out[p] = Float((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) / 255
        }
        return Tensor(shape: [1, d.height, d.width], data: out)
    }
}
