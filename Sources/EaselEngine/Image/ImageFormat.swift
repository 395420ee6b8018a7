import CEaselCodecs
import Foundation

/// The output formats a job's images can be stored in: PNG (our encoder on zlib), JPEG (libjpeg-turbo) and WebP
/// (libwebp), each from 8-bit interleaved RGB.
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    case png, jpeg, webp

    /// `output_quality` when a request leaves it out (JPEG and lossy WebP; PNG is lossless and ignores it).
    public static let defaultQuality = 90
    /// WebP's largest width and height.
    public static let maxWebPSide = 16383
    /// WebP's quality at which `encode` switches to lossless WebP.
    public static let losslessQuality = 100

    public var contentType: String {
        switch self {
        case .png: return "image/png"
        case .jpeg: return "image/jpeg"
        case .webp: return "image/webp"
        }
    }

    /// The file extension, which is also the image URL's: `0.png`, `0.jpeg`, `0.webp`.
    public var fileExtension: String { rawValue }

    /// The format a stored file or URL names by its extension.
    public init?(fileExtension ext: String) { self.init(rawValue: ext) }

    /// Encodes `width * height * 3` bytes of RGB. `quality` 1...100: JPEG's quality (4:4:4 chroma from 90, 4:2:0
    /// below), WebP's (100 is lossless WebP); PNG ignores it.
    public func encode(rgb: [UInt8], width: Int, height: Int, quality: Int = ImageFormat.defaultQuality) throws -> Data {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw EngineError("\(rawValue) encode: \(rgb.count) bytes do not make a \(width)x\(height) RGB image")
        }
        guard (1...100).contains(quality) else { throw EngineError("\(rawValue) encode: quality \(quality) is not in 1...100") }
        switch self {
        case .png:
            return try PNGEncoder.encode(rgb: rgb, width: width, height: height)
        case .jpeg, .webp:
            guard width <= Int(Int32.max), height <= Int(Int32.max) else { throw EngineError("\(rawValue) encode: too large") }
            var out: UnsafeMutablePointer<UInt8>?
            var size = 0
            var err = [CChar](repeating: 0, count: 256)
            let rc = rgb.withUnsafeBufferPointer { p in
                self == .jpeg
                    ? easel_jpeg_encode(p.baseAddress, Int32(width), Int32(height), Int32(quality), &out, &size, &err, err.count)
                    : easel_webp_encode(p.baseAddress, Int32(width), Int32(height), Int32(quality),
                                        quality == Self.losslessQuality ? 1 : 0, &out, &size, &err, err.count)
            }
            guard rc == 0, let out else { throw EngineError(String(cString: err)) }
            defer { easel_codec_free(out) }
            return Data(bytes: out, count: size)
        }
    }

    /// Decodes an image of this format to RGB (refusing more than `maxPixels` before decoding).
    public func decode(_ data: Data, maxPixels: Int = PNGEncoder.defaultMaxPixels) throws -> (rgb: [UInt8], width: Int, height: Int) {
        switch self {
        case .png:
            return try PNGEncoder.decode(data, maxPixels: maxPixels)
        case .jpeg, .webp:
            var rgb: UnsafeMutablePointer<UInt8>?
            var w: Int32 = 0, h: Int32 = 0
            var err = [CChar](repeating: 0, count: 256)
            let rc = data.withUnsafeBytes { raw in
                let p = raw.bindMemory(to: UInt8.self).baseAddress
                return self == .jpeg
                    ? easel_jpeg_decode(p, raw.count, maxPixels, &rgb, &w, &h, &err, err.count)
                    : easel_webp_decode(p, raw.count, maxPixels, &rgb, &w, &h, &err, err.count)
            }
            guard rc == 0, let rgb else { throw EngineError(String(cString: err)) }
            defer { easel_codec_free(rgb) }
            return (Array(UnsafeBufferPointer(start: rgb, count: Int(w) * Int(h) * 3)), Int(w), Int(h))
        }
    }
}
