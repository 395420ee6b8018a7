import CZlib
import Foundation

extension PNGEncoder {
    /// Default bound on `width * height` accepted by `decode` (16 M pixels).
    public static let defaultMaxPixels = 16 * 1024 * 1024

    /// Decodes a non-interlaced PNG to interleaved 8-bit RGB.
    ///
    /// Accepts bit depth 8 for greyscale, RGB, palette, grey+alpha and RGBA, and bit depth 16 for
    /// the non-palette types (the high byte is kept). Alpha is dropped, as PIL's `convert("RGB")`
    /// does. Every chunk's CRC is checked; the size is checked against `maxPixels` before
    /// anything is inflated. Malformed input throws an `EngineError`.
    public static func decode(_ data: Data, maxPixels: Int = defaultMaxPixels) throws -> (rgb: [UInt8], width: Int, height: Int) {
        try data.withUnsafeBytes { try decode(bytes: $0, maxPixels: maxPixels) }
    }

    private static func be32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    private static func decode(bytes b: UnsafeRawBufferPointer, maxPixels: Int) throws -> (rgb: [UInt8], width: Int, height: Int) {
        func err(_ msg: String) -> EngineError { EngineError("PNG decode: \(msg)") }
        guard b.count >= 8, Array(b[0..<8]) == signature else { throw err("not a PNG (bad signature)") }

        var pos = 8
        var width = 0, height = 0, bitDepth = 0, colorType = -1
        var palette: [UInt8] = []
        var idat: [UInt8] = []
        var sawIHDR = false, sawIEND = false
        while !sawIEND {
            guard pos + 12 <= b.count else { throw err("truncated before IEND") }
            let length = Int(be32(b, pos))
            guard length <= Int(Int32.max), length <= b.count - pos - 12 else {
                throw err("chunk at byte \(pos) claims \(length) bytes, past the end of the data")
            }
            let typeBytes = Array(b[(pos + 4)..<(pos + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw err("invalid chunk type at byte \(pos)")
            }
            let body = UnsafeRawBufferPointer(rebasing: b[(pos + 8)..<(pos + 8 + length)])
            let stored = be32(b, pos + 8 + length)
            var c = crc32(0, nil, 0)
            c = crc32(c, b.baseAddress! + pos + 4, 4)
            if length > 0 { c = crc32(c, body.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(length)) }
            guard UInt32(truncatingIfNeeded: c) == stored else { throw err("CRC mismatch in \(type) chunk at byte \(pos)") }
            pos += 12 + length

            if !sawIHDR && type != "IHDR" { throw err("first chunk is \(type), expected IHDR") }
            switch type {
            case "IHDR":
                guard !sawIHDR else { throw err("second IHDR chunk") }
                guard length == 13 else { throw err("IHDR has \(length) bytes, expected 13") }
                sawIHDR = true
                width = Int(be32(body, 0)); height = Int(be32(body, 4))
                bitDepth = Int(body[8]); colorType = Int(body[9])
                guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
                    throw err("invalid size \(width)x\(height)")
                }
                guard body[10] == 0, body[11] == 0 else { throw err("unknown compression or filter method") }
                guard body[12] == 0 else { throw err("interlaced PNGs are not supported") }
                switch (colorType, bitDepth) {
                case (0, 8), (0, 16), (2, 8), (2, 16), (3, 8), (4, 8), (4, 16), (6, 8), (6, 16): break
                default: throw err("unsupported colour type \(colorType) with bit depth \(bitDepth)")
                }
                let (pixels, o) = width.multipliedReportingOverflow(by: height)
                guard !o, pixels <= maxPixels else {
                    throw err("image is \(width)x\(height), more than the limit of \(maxPixels) pixels")
                }
            case "PLTE":
                guard length % 3 == 0, length > 0, length <= 768 else { throw err("invalid PLTE length \(length)") }
                palette = Array(body)
            case "IDAT":
                idat.append(contentsOf: body)
            case "IEND":
                sawIEND = true
            default:
                // Ancillary chunks (lower-case first letter) may be skipped; unknown critical ones may not.
                if (0x41...0x5A).contains(typeBytes[0]) { throw err("unknown critical chunk \(type)") }
            }
        }
        guard !idat.isEmpty else { throw err("no IDAT data") }
        if colorType == 3 && palette.isEmpty { throw err("palette image without PLTE") }

        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]!
        let bpp = channels * bitDepth / 8
        let stride = width * bpp
        let rawCount = height * (stride + 1)  // bounded: pixels ≤ maxPixels, bpp ≤ 8
        guard rawCount <= Int(UInt32.max), idat.count <= Int(UInt32.max) else { throw err("image data too large") }
        var raw = [UInt8](repeating: 0, count: rawCount)
        try inflate(idat, into: &raw, err: err)

        // Undo the per-row filters in place.
        try raw.withUnsafeMutableBufferPointer { r in
            let p = r.baseAddress!
            for y in 0..<height {
                let row = p + y * (stride + 1)
                let type = row[0]
                let cur = row + 1
                let up: UnsafeMutablePointer<UInt8>? = y == 0 ? nil : row - stride
                switch type {
                case 0: break
                case 1:
                    for i in bpp..<max(stride, bpp) { cur[i] = cur[i] &+ cur[i - bpp] }
                case 2:
                    if let up { for i in 0..<stride { cur[i] = cur[i] &+ up[i] } }
                case 3:
                    for i in 0..<stride {
                        let a = i >= bpp ? Int(cur[i - bpp]) : 0
                        let u = up.map { Int($0[i]) } ?? 0
                        cur[i] = cur[i] &+ UInt8((a + u) / 2)
                    }
                case 4:
                    for i in 0..<stride {
                        let a = i >= bpp ? cur[i - bpp] : 0
                        let u = up?[i] ?? 0
                        let c = (i >= bpp ? up?[i - bpp] : nil) ?? 0
                        cur[i] = cur[i] &+ paethPredictor(a, u, c)
                    }
                default:
                    throw err("row \(y) has unknown filter type \(type)")
                }
            }
        }

        // Convert to RGB, keeping the high byte of 16-bit samples.
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        let sampleBytes = bitDepth / 8
        let paletteCount = palette.count / 3
        try raw.withUnsafeBufferPointer { r in
            try rgb.withUnsafeMutableBufferPointer { o in
                for y in 0..<height {
                    let row = r.baseAddress! + y * (stride + 1) + 1
                    for x in 0..<width {
                        let px = row + x * bpp
                        let d = (y * width + x) * 3
                        switch colorType {
                        case 0, 4:
                            let g = px[0]
                            o[d] = g; o[d + 1] = g; o[d + 2] = g
                        case 3:
                            let i = Int(px[0])
                            guard i < paletteCount else { throw err("palette index \(i) out of range at (\(x), \(y))") }
                            o[d] = palette[3 * i]; o[d + 1] = palette[3 * i + 1]; o[d + 2] = palette[3 * i + 2]
                        default:
                            o[d] = px[0]; o[d + 1] = px[sampleBytes]; o[d + 2] = px[2 * sampleBytes]
                        }
                    }
                }
            }
        }
        return (rgb, width, height)
    }

    /// Inflates a zlib stream that must produce exactly `out.count` bytes.
    private static func inflate(_ input: [UInt8], into out: inout [UInt8], err: (String) -> EngineError) throws {
        var input = input
        var strm = z_stream()
        guard inflateInit_(&strm, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw err("zlib inflateInit failed")
        }
        defer { inflateEnd(&strm) }
        let expected = out.count
        let rc: Int32 = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                strm.next_in = inp.baseAddress
                strm.avail_in = uInt(inp.count)
                strm.next_out = o.baseAddress
                strm.avail_out = uInt(o.count)
                return CZlib.inflate(&strm, Z_FINISH)
            }
        }
        switch rc {
        case Z_STREAM_END:
            guard strm.avail_out == 0 else {
                throw err("image data is \(expected - Int(strm.avail_out)) bytes, expected \(expected)")
            }
        case Z_BUF_ERROR where strm.avail_out == 0:
            throw err("image data is longer than the \(expected) bytes expected")
        case Z_BUF_ERROR:
            throw err("image data is truncated (\(expected - Int(strm.avail_out)) of \(expected) bytes)")
        default:
            throw err("corrupt image data (zlib error \(rc))")
        }
    }
}
