import Foundation

/// FLUX's 2x2 patch packing of latents and the position ids of the packed tokens.
public enum LatentPacking {
    /// [C, H, W] → [(H/2)·(W/2), C·4], as FluxPipeline._pack_latents (channel-major, then the 2x2 patch).
    public static func pack(_ x: Tensor) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let hh = h / 2, ww = w / 2
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<hh { for j in 0..<ww { for ch in 0..<c { for dy in 0..<2 { for dx in 0..<2 {
            out[((i * ww + j) * c + ch) * 4 + dy * 2 + dx] = x.data[(ch * h + 2 * i + dy) * w + 2 * j + dx]
        }}}}}
        return Tensor(shape: [hh * ww, c * 4], data: out)
    }

    /// [(H/2)·(W/2), C·4] → [C, H, W], as FluxPipeline._unpack_latents.
    public static func unpack(_ x: Tensor, height h: Int, width w: Int) -> Tensor {
        let c = x.lastDim / 4, hh = h / 2, ww = w / 2
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<hh { for j in 0..<ww { for ch in 0..<c { for dy in 0..<2 { for dx in 0..<2 {
            out[(ch * h + 2 * i + dy) * w + 2 * j + dx] = x.data[((i * ww + j) * c + ch) * 4 + dy * 2 + dx]
        }}}}}
        return Tensor(shape: [c, h, w], data: out)
    }

    /// Image token ids [(H/2)·(W/2), 3]: (0, row, column), as FluxPipeline._prepare_latent_image_ids.
    public static func imageIds(latentHeight h: Int, latentWidth w: Int) -> Tensor {
        let hh = h / 2, ww = w / 2
        var ids = [Float](repeating: 0, count: hh * ww * 3)
        for i in 0..<hh { for j in 0..<ww { ids[(i * ww + j) * 3 + 1] = Float(i); ids[(i * ww + j) * 3 + 2] = Float(j) } }
        return Tensor(shape: [hh * ww, 3], data: ids)
    }

    /// torch's pixel_unshuffle / pixel_shuffle on [C, H, W] with factor r.
    public static func pixelUnshuffle(_ x: Tensor, _ r: Int) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2], oh = h / r, ow = w / r
        var out = [Float](repeating: 0, count: x.count)
        for ch in 0..<c { for dy in 0..<r { for dx in 0..<r { for y in 0..<oh { for xx in 0..<ow {
            out[(((ch * r + dy) * r + dx) * oh + y) * ow + xx] = x.data[(ch * h + y * r + dy) * w + xx * r + dx]
        }}}}}
        return Tensor(shape: [c * r * r, oh, ow], data: out)
    }

    public static func pixelShuffle(_ x: Tensor, _ r: Int) -> Tensor {
        let c = x.shape[0] / (r * r), h = x.shape[1], w = x.shape[2]
        var out = [Float](repeating: 0, count: x.count)
        for ch in 0..<c { for dy in 0..<r { for dx in 0..<r { for y in 0..<h { for xx in 0..<w {
            out[(ch * h * r + y * r + dy) * w * r + xx * r + dx] = x.data[(((ch * r + dy) * r + dx) * h + y) * w + xx]
        }}}}}
        return Tensor(shape: [c, h * r, w * r], data: out)
    }
}
