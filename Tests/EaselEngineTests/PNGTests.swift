import CZlib
import Foundation
import XCTest
@testable import EaselEngine

final class PNGTests: XCTestCase {
    func randomImage(_ w: Int, _ h: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        // Smooth gradient plus noise, so every filter type gets picked somewhere.
        return (0..<(w * h * 3)).map { i in
            let x = (i / 3) % w, y = (i / 3) / w
            return UInt8(truncatingIfNeeded: x * 3 + y * 2 + (i % 3) * 40 + Int(rng.next() % 6))
        }
    }

    func assertThrowsEngineError(_ body: @autoclosure () throws -> Any, _ needle: String? = nil,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            guard let ee = e as? EngineError else { return XCTFail("not an EngineError: \(e)", file: file, line: line) }
            if let needle { XCTAssertTrue(ee.message.contains(needle), "'\(ee.message)' lacks '\(needle)'", file: file, line: line) }
        }
    }

    /// A PNG from hand-made chunks with correct CRCs.
    func png(_ chunks: [(String, [UInt8])]) -> Data {
        var d = Data(PNGEncoder.signature)
        for (t, b) in chunks { PNGEncoder.appendChunk(&d, t, b[...]) }
        return d
    }

    func ihdr(_ w: UInt32, _ h: UInt32, depth: UInt8 = 8, color: UInt8 = 2, interlace: UInt8 = 0) -> [UInt8] {
        var b: [UInt8] = []
        PNGEncoder.appendBE32(&b, w); PNGEncoder.appendBE32(&b, h)
        return b + [depth, color, 0, 0, interlace]
    }

    func zlib(_ raw: [UInt8]) -> [UInt8] {
        var n = compressBound(uLong(raw.count))
        var out = [UInt8](repeating: 0, count: Int(n))
        XCTAssertEqual(compress2(&out, &n, raw, uLong(raw.count), 9), Z_OK)
        return Array(out.prefix(Int(n)))
    }

    func test_encodeDecode_roundTrip_allStrategiesAndSizes() throws {
        for (w, h) in [(1, 1), (7, 3), (64, 33), (3, 50)] {
            let rgb = randomImage(w, h, seed: UInt64(w * 1000 + h))
            for strategy in [PNGEncoder.FilterStrategy.none, .paeth, .adaptive] {
                let data = try PNGEncoder.encode(rgb: rgb, width: w, height: h, filter: strategy)
                let d = try PNGEncoder.decode(data)
                XCTAssertEqual(d.width, w); XCTAssertEqual(d.height, h)
                XCTAssertEqual(d.rgb, rgb, "\(w)x\(h) \(strategy)")
            }
        }
    }

    func test_encode_structure_ihdrAndIend() throws {
        let data = try PNGEncoder.encode(rgb: [255, 0, 0], width: 1, height: 1)
        XCTAssertEqual(Array(data.prefix(8)), PNGEncoder.signature)
        XCTAssertEqual(Array(data[12..<16]), Array("IHDR".utf8))
        XCTAssertEqual(Array(data[24..<29]), [8, 2, 0, 0, 0])
        // IEND with its well-known CRC AE 42 60 82.
        XCTAssertEqual(Array(data.suffix(12)), [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
    }

    func test_encode_rejectsWrongByteCount() {
        assertThrowsEngineError(try PNGEncoder.encode(rgb: [1, 2, 3, 4], width: 1, height: 1))
        assertThrowsEngineError(try PNGEncoder.encode(rgb: [], width: 0, height: 0))
    }

    func test_decode_detectsCRCCorruption() throws {
        var data = try PNGEncoder.encode(rgb: randomImage(8, 8, seed: 1), width: 8, height: 8)
        data[data.count - 20] ^= 0x01  // inside the IDAT body
        assertThrowsEngineError(try PNGEncoder.decode(data), "CRC")
        var ihdrBad = try PNGEncoder.encode(rgb: [1, 2, 3], width: 1, height: 1)
        ihdrBad[29] ^= 0xFF  // IHDR's CRC
        assertThrowsEngineError(try PNGEncoder.decode(ihdrBad), "CRC")
    }

    // Tools/fixtures/make_png.py (PIL) draws r = 50x, g = 60y, b = (37x + 11y²) % 256, a = 255 - 40x on 5×4.
    func expectedFixturePixels() -> [UInt8] {
        var out: [UInt8] = []
        for y in 0..<4 { for x in 0..<5 { out += [UInt8(50 * x), UInt8(60 * y), UInt8((37 * x + 11 * y * y) % 256)] } }
        return out
    }

    func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: XCTUnwrap(Bundle.module.url(forResource: "Fixtures/png/\(name)", withExtension: nil)))
    }

    func test_decode_pilFixtures() throws {
        for name in ["pil_rgb.png", "pil_rgba.png", "pil_palette.png"] {
            let d = try PNGEncoder.decode(try fixture(name))
            XCTAssertEqual(d.width, 5); XCTAssertEqual(d.height, 4)
            XCTAssertEqual(d.rgb, expectedFixturePixels(), name)
        }
        // PIL's own "L" conversion of the same picture (values printed by PIL).
        let gray: [UInt8] = [0, 19, 38, 58, 77, 36, 56, 75, 94, 113, 75, 95, 114, 133, 152, 117, 136, 155, 174, 194]
        let g = try PNGEncoder.decode(try fixture("pil_gray.png"))
        XCTAssertEqual(g.rgb, gray.flatMap { [$0, $0, $0] })
    }

    func test_decode_allFiveFilters_andSixteenBit() throws {
        // 2×2 RGB, one row per filter type applied by hand over the zero row / previous row.
        let rows: [[UInt8]] = [[10, 20, 30, 40, 50, 60], [15, 25, 35, 45, 55, 65]]
        for (t0, t1) in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)] as [(UInt8, UInt8)] {
            var raw: [UInt8] = []
            var prev = [UInt8](repeating: 0, count: 6)
            for (t, row) in zip([t0, t1], rows) {
                let out = UnsafeMutablePointer<UInt8>.allocate(capacity: 6)
                defer { out.deallocate() }
                row.withUnsafeBufferPointer { cur in prev.withUnsafeBufferPointer { up in
                    PNGEncoder.applyFilter(t, cur, up, bpp: 3, into: out)
                } }
                raw += [t] + Array(UnsafeBufferPointer(start: out, count: 6))
                prev = row
            }
            let d = try PNGEncoder.decode(png([("IHDR", ihdr(2, 2)), ("IDAT", zlib(raw)), ("IEND", [])]))
            XCTAssertEqual(d.rgb, rows[0] + rows[1], "filters \(t0), \(t1)")
        }
        // 16-bit RGBA keeps the high byte and drops alpha.
        let raw16: [UInt8] = [0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xFF, 0xFF]
        let d16 = try PNGEncoder.decode(png([("IHDR", ihdr(1, 1, depth: 16, color: 6)), ("IDAT", zlib(raw16)), ("IEND", [])]))
        XCTAssertEqual(d16.rgb, [0x12, 0x56, 0x9A])
    }

    func test_decode_rejectsOversizeBeforeInflating() throws {
        // 100000×100000 with a tiny bogus IDAT: must fail on size, not try to allocate 30 GB.
        let data = png([("IHDR", ihdr(100_000, 100_000)), ("IDAT", [0x78, 0x9C]), ("IEND", [])])
        assertThrowsEngineError(try PNGEncoder.decode(data), "limit")
        let small = try PNGEncoder.encode(rgb: randomImage(10, 10, seed: 3), width: 10, height: 10)
        assertThrowsEngineError(try PNGEncoder.decode(small, maxPixels: 99), "limit")
        XCTAssertNoThrow(try PNGEncoder.decode(small, maxPixels: 100))
    }

    func test_decode_rejectsStructuralProblems() throws {
        let raw: [UInt8] = [0, 1, 2, 3]
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1, interlace: 1)), ("IDAT", zlib(raw)), ("IEND", [])])), "interlaced")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1, depth: 4, color: 0)), ("IDAT", zlib(raw)), ("IEND", [])])), "bit depth")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IDAT", zlib(raw)), ("IEND", [])])), "IHDR")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("IEND", [])])), "IDAT")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("IDAT", zlib(raw))])), "IEND")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("IDAT", zlib(raw + [0])), ("IEND", [])])), "longer")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("IDAT", zlib([0, 1])), ("IEND", [])])), "bytes")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("IDAT", zlib([9, 1, 2, 3])), ("IEND", [])])), "filter type")
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("XXXX", []), ("IDAT", zlib(raw)), ("IEND", [])])), "critical")
        XCTAssertNoThrow(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1)), ("tEXt", Array("a\0b".utf8)), ("IDAT", zlib(raw)), ("IEND", [])])))
        assertThrowsEngineError(try PNGEncoder.decode(png([("IHDR", ihdr(1, 1, color: 3)), ("PLTE", [1, 2, 3]), ("IDAT", zlib([0, 1])), ("IEND", [])])), "palette")
    }

    func test_decode_garbage_neverCrashes() throws {
        assertThrowsEngineError(try PNGEncoder.decode(Data()))
        assertThrowsEngineError(try PNGEncoder.decode(Data("hello, this is not a png".utf8)), "signature")
        var rng = SplitMix64(seed: 42)
        for n in [1, 8, 9, 33, 100, 1000] {
            let junk = Data((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            assertThrowsEngineError(try PNGEncoder.decode(junk))
            assertThrowsEngineError(try PNGEncoder.decode(Data(PNGEncoder.signature) + junk))
        }
        let valid = try PNGEncoder.encode(rgb: randomImage(9, 7, seed: 5), width: 9, height: 7)
        for len in 0..<valid.count {  // every truncation
            assertThrowsEngineError(try PNGEncoder.decode(valid.prefix(len)))
        }
        // Mutations: CRC catches most; the rest must decode or throw cleanly.
        for _ in 0..<1000 {
            var b = [UInt8](valid)
            let i = 8 + Int(rng.next() % UInt64(b.count - 8))
            b[i] = UInt8(truncatingIfNeeded: rng.next())
            do { _ = try PNGEncoder.decode(Data(b)) } catch is EngineError {}
        }
    }

    func test_rgbFromCHW_matchesNumpyRoundHalfEven() {
        // Inputs and expected bytes from numpy: (np.clip(v, 0, 1) * 255).round().astype("uint8") in float32.
        let v: [Float] = [-0.10000000149011612, 0.0, 0.5, 1.0, 1.2000000476837158, 0.009803921915590763,
                          0.01764705963432789, 0.02549019642174244, 0.30000001192092896, 0.699999988079071,
                          0.9990000128746033, 0.0019607844296842813, 0.0058823530562222, 0.9941176176071167, .nan]
        let expected: [UInt8] = [0, 0, 128, 255, 255, 2, 4, 6, 76, 178, 255, 0, 2, 254, 0]
        // [3, 1, 15] with the same values in every channel.
        let t = Tensor(shape: [3, 1, 15], data: v + v + v)
        XCTAssertEqual(PNGEncoder.rgb(fromCHW: t), expected.flatMap { [$0, $0, $0] })
        // Channel planes interleave to HWC.
        let t2 = Tensor(shape: [3, 1, 2], data: [1, 0, 0, 1, 0.5, 0])
        XCTAssertEqual(PNGEncoder.rgb(fromCHW: t2), [255, 0, 128, 0, 255, 0])
    }
}
