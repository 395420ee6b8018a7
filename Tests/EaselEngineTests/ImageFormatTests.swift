@testable import EaselEngine
import Foundation
import XCTest

/// JPEG and WebP through libjpeg-turbo and libwebp: each format decodes back to the size it was given and close to
/// the pixels (exactly for PNG and lossless WebP), and broken files are errors, not crashes.
final class ImageFormatTests: XCTestCase {
    /// A smooth gradient with a hard-edged disc: both what lossy codecs do well and what they smear.
    func picture(_ w: Int, _ h: Int) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                let inDisc = (x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < (w / 4) * (w / 4)
                rgb[i] = inDisc ? 220 : UInt8(x * 255 / max(1, w - 1))
                rgb[i + 1] = inDisc ? 30 : UInt8(y * 255 / max(1, h - 1))
                rgb[i + 2] = inDisc ? 40 : 128
            }
        }
        return rgb
    }

    func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        let mse = zip(a, b).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    func testEachFormatRoundTripsItsSizeAndPixels() throws {
        let (w, h) = (96, 64)
        let rgb = picture(w, h)
        for (format, quality, minDB) in [(ImageFormat.png, 90, Double.infinity), (.jpeg, 90, 36), (.jpeg, 50, 26),
                                         (.webp, 90, 29), (.webp, 100, .infinity)] {
            let data = try format.encode(rgb: rgb, width: w, height: h, quality: quality)
            let back = try format.decode(data)
            XCTAssertEqual([back.width, back.height], [w, h], "\(format) q\(quality)")
            XCTAssertGreaterThanOrEqual(psnr(back.rgb, rgb), minDB, "\(format) q\(quality)")
        }
        let jpeg = try ImageFormat.jpeg.encode(rgb: rgb, width: w, height: h)
        XCTAssertEqual(Array(jpeg.prefix(3)), [0xFF, 0xD8, 0xFF], "a JPEG SOI marker")
        XCTAssertEqual(Array(jpeg.suffix(2)), [0xFF, 0xD9])
        let webp = try ImageFormat.webp.encode(rgb: rgb, width: w, height: h)
        XCTAssertEqual(String(decoding: webp.prefix(4), as: UTF8.self), "RIFF")
        XCTAssertEqual(String(decoding: webp[8..<12], as: UTF8.self), "WEBP")
        XCTAssertLessThan(try ImageFormat.jpeg.encode(rgb: rgb, width: w, height: h, quality: 30).count, jpeg.count,
                          "lower quality, smaller file")
    }

    func testBadInputIsAnErrorNotACrash() throws {
        let rgb = picture(16, 16)
        for format in ImageFormat.allCases {
            XCTAssertThrowsError(try format.encode(rgb: rgb, width: 16, height: 15), "\(format): wrong byte count")
            XCTAssertThrowsError(try format.encode(rgb: rgb, width: 16, height: 16, quality: 0), "\(format): quality 0")
            XCTAssertThrowsError(try format.decode(Data("not an image".utf8)), "\(format): junk")
            let good = try format.encode(rgb: rgb, width: 16, height: 16)
            XCTAssertThrowsError(try format.decode(good, maxPixels: 100), "\(format): over the pixel bound")
            // Cut anywhere: an error or (for formats that tolerate a missing tail) an image of the right size.
            for cut in stride(from: 1, to: good.count, by: max(1, good.count / 23)) {
                if let d = try? format.decode(good.prefix(cut)) { XCTAssertEqual([d.width, d.height], [16, 16]) }
            }
        }
        XCTAssertThrowsError(try ImageFormat.webp.encode(rgb: [UInt8](repeating: 0, count: 16384 * 3), width: 16384, height: 1),
                             "WebP's side limit")
    }
}
