import Foundation
import XCTest
@testable import EaselEngine

final class SafeTensorsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("easel-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    // MARK: helpers

    /// A file made by hand: 8-byte length (or `lengthOverride`), header text, data bytes.
    func rawFile(_ name: String = "t.safetensors", header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) throws -> URL {
        var bytes = [UInt8]()
        let h = Array(header.utf8)
        withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { bytes += $0 }
        bytes += h
        bytes += data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    /// Asserts that opening `url` throws an EngineError whose message contains every needle.
    func assertRejects(_ url: URL, _ needles: [String], maxHeaderBytes: Int = SafeTensorsFile.defaultMaxHeaderBytes,
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafeTensorsFile(url: url, maxHeaderBytes: maxHeaderBytes)
            XCTFail("expected an error for \(url.lastPathComponent)", file: file, line: line)
        } catch let e as EngineError {
            for n in needles + [url.path] {
                XCTAssertTrue(e.message.contains(n), "'\(e.message)' does not mention '\(n)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    func fixture(_ path: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(path)", withExtension: nil))
    }

    // MARK: round trips

    func test_writer_f32_roundTrip_keepsValuesShapesAndMetadata() throws {
        let a = Tensor(shape: [2, 3], data: [0, 1, -2.5, 3.25, 1e-7, .greatestFiniteMagnitude])
        let b = Tensor(shape: [], data: [42])
        let c = Tensor(shape: [0, 4], data: [])
        let url = dir.appendingPathComponent("rt.safetensors")
        try SafeTensorsWriter.write([("z.weight", a), ("a \"quoted\"\nname", b), ("empty", c)], to: url,
                                    metadata: ["format": "pt", "odd": "tab\there"])
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(f.names, ["a \"quoted\"\nname", "empty", "z.weight"])
        XCTAssertEqual(f.metadata, ["format": "pt", "odd": "tab\there"])
        XCTAssertEqual(try f.tensor("z.weight").data, a.data)
        XCTAssertEqual(try f.tensor("z.weight").shape, [2, 3])
        XCTAssertEqual(try f.tensor("a \"quoted\"\nname").shape, [])
        XCTAssertEqual(try f.tensor("a \"quoted\"\nname").data, [42])
        XCTAssertEqual(try f.tensor("empty").shape, [0, 4])
        XCTAssertEqual(f.info("z.weight")?.dtype, "F32")
        XCTAssertNil(f.info("nope"))
        // Data section starts 8-byte aligned.
        let bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
    }

    func test_writer_f16AndBF16Storage_roundTripWithRounding() throws {
        let values: [Float] = [1, -0.5, 0.1, 65504, 1e-8, 3e38, -.infinity]
        let t = Tensor(shape: [7], data: values)
        let u16 = dir.appendingPathComponent("h.safetensors"), ubf = dir.appendingPathComponent("b.safetensors")
        try SafeTensorsWriter.write([("t", t)], to: u16, storage: .f16)
        try SafeTensorsWriter.write([("t", t)], to: ubf, storage: .bf16)
        let h = try SafeTensorsFile(url: u16), b = try SafeTensorsFile(url: ubf)
        XCTAssertEqual(h.info("t")?.dtype, "F16")
        XCTAssertEqual(b.info("t")?.dtype, "BF16")
        XCTAssertEqual(try h.tensor("t").data, values.map { Float(Float16($0)) })
        let bf = try b.tensor("t").data
        XCTAssertEqual(bf[0], 1); XCTAssertEqual(bf[1], -0.5); XCTAssertEqual(bf[6], -.infinity)
        XCTAssertEqual(bf[2], Float(bitPattern: 0x3DCD_0000))  // 0.1 (0x3DCCCCCD) rounds up to bf16 0x3DCD
        XCTAssertEqual(SafeTensorsWriter.bf16Bits(0.1), 0x3DCD)
        XCTAssertEqual(SafeTensorsWriter.bf16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie → even
        XCTAssertEqual(SafeTensorsWriter.bf16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie → even
        XCTAssertTrue(Float(bitPattern: UInt32(SafeTensorsWriter.bf16Bits(.nan)) << 16).isNaN)
    }

    func test_handWrittenBytes_allDtypes_widenToF32() throws {
        // F16: 1.0, -2.0, 2^-24 (subnormal), inf. BF16: 1.0, -0.15625. F64: pi, -1e300 (→ -inf).
        let f16: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00]
        let bf16: [UInt16] = [0x3F80, 0xBE20]
        let f64: [UInt64] = [Double.pi.bitPattern, (-1e300).bitPattern]
        let i64: [Int64] = [-3, 1 << 40]
        let i32: [Int32] = [-7, 123_456]
        let i16: [Int16] = [-32768, 5]
        let i8: [Int8] = [-128, 127]
        let u8: [UInt8] = [0, 255]
        let bools: [UInt8] = [1, 0, 1]
        var data: [UInt8] = []
        var parts: [String] = []
        func add(_ name: String, _ dtype: String, _ shape: [Int], _ bytes: [UInt8]) {
            parts.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(data.count),\(data.count + bytes.count)]}")
            data += bytes
        }
        add("f16", "F16", [2, 2], le(f16))
        add("bf16", "BF16", [2], le(bf16))
        add("f64", "F64", [2], le(f64))  // lands at an offset that is not 8-byte aligned in the file
        add("i64", "I64", [2], le(i64))
        add("i32", "I32", [2], le(i32))
        add("i16", "I16", [2], le(i16))
        add("i8", "I8", [2], i8.map { UInt8(bitPattern: $0) })
        add("u8", "U8", [2], u8)
        add("bool", "BOOL", [3], bools)
        let url = try rawFile(header: "{" + parts.joined(separator: ",") + "}", data: data)
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(try f.tensor("f16").data, [1, -2, Float(bitPattern: 0x3380_0000), .infinity])
        XCTAssertEqual(try f.tensor("f16").shape, [2, 2])
        XCTAssertEqual(try f.tensor("bf16").data, [1, -0.15625])
        XCTAssertEqual(try f.tensor("f64").data, [Float(Double.pi), -.infinity])
        XCTAssertEqual(try f.tensor("i64").data, [-3, 1_099_511_627_776])
        XCTAssertEqual(try f.tensor("i32").data, [-7, 123_456])
        XCTAssertEqual(try f.tensor("i16").data, [-32768, 5])
        XCTAssertEqual(try f.tensor("i8").data, [-128, 127])
        XCTAssertEqual(try f.tensor("u8").data, [0, 255])
        XCTAssertEqual(try f.tensor("bool").data, [1, 0, 1])
        XCTAssertEqual(f.names.count, 9)
        XCTAssertEqual(f.metadata, [:])
    }

    func test_f16Table_matchesNativeConversion_forAllBitPatterns() {
        let mismatches = (0...0xFFFF).filter { i in
            let a = SafeTensorsFile.f16Table[i], b = Float(Float16(bitPattern: UInt16(i)))
            return !(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN))
        }
        XCTAssertEqual(mismatches, [])
    }

    func test_pythonSafetensorsFixture_readsExactValues() throws {
        // Made by Tools/fixtures/make_safetensors.py (Python `safetensors.torch.save_file`).
        let f = try SafeTensorsFile(url: try fixture("safetensors/tiny.safetensors"))
        XCTAssertEqual(f.names, ["a.f32", "b.f16", "c.bf16", "d.i64", "e.bool"])
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "easel fixture"])
        let a = try f.tensor("a.f32")
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.data, [0, 1, -2.5, 3.25, 1e-3, 65504])
        XCTAssertEqual(f.info("b.f16")?.dtype, "F16")
        XCTAssertEqual(try f.tensor("b.f16").data, [1, -0.5, 0.333251953125, 65504, 0x1p-24])
        XCTAssertEqual(f.info("c.bf16")?.dtype, "BF16")
        let c = try f.tensor("c.bf16")
        XCTAssertEqual(c.shape, [2, 2])
        XCTAssertEqual(c.data, [1, -2, 0.15625, 3 * 0x1p100])
        XCTAssertEqual(try f.tensor("d.i64").shape, [])
        XCTAssertEqual(try f.tensor("d.i64").data, [7])
        XCTAssertEqual(try f.tensor("e.bool").data, [1, 0, 1])
    }

    func test_missingTensor_throwsNamingIt() throws {
        let url = dir.appendingPathComponent("m.safetensors")
        try SafeTensorsWriter.write([("x", Tensor(shape: [1], data: [1]))], to: url)
        let f = try SafeTensorsFile(url: url)
        XCTAssertThrowsError(try f.tensor("y")) { XCTAssertTrue(($0 as? EngineError)?.message.contains("'y'") == true) }
    }

    func test_writer_rejectsDuplicateNames() {
        let t = Tensor(shape: [1], data: [1])
        XCTAssertThrowsError(try SafeTensorsWriter.write([("x", t), ("x", t)], to: dir.appendingPathComponent("d.safetensors"))) {
            XCTAssertTrue(($0 as? EngineError)?.message.contains("'x'") == true)
        }
    }

    // MARK: header defects

    let f32x2 = "\"dtype\":\"F32\",\"shape\":[2]"

    func test_defect_fileShorterThanLengthPrefix() throws {
        let url = dir.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        assertRejects(url, ["too short"])
    }

    func test_defect_headerLengthOverLimit() throws {
        let url = try rawFile(header: "{}", lengthOverride: 200_000_000)
        assertRejects(url, ["200000000", "limit"])
        let small = try rawFile("s.safetensors", header: "{\"w\":{\(f32x2),\"data_offsets\":[0,8]}}", data: [UInt8](repeating: 0, count: 8))
        assertRejects(small, ["limit"], maxHeaderBytes: 16)
        XCTAssertNoThrow(try SafeTensorsFile(url: small, maxHeaderBytes: 1000))
    }

    func test_defect_headerLengthHuge_noOverflow() throws {
        assertRejects(try rawFile(header: "{}", lengthOverride: UInt64.max), ["limit"])
        assertRejects(try rawFile("b.safetensors", header: "{}", lengthOverride: UInt64(Int.max)), ["limit"])
    }

    func test_defect_headerPastEndOfFile() throws {
        assertRejects(try rawFile(header: "{}", lengthOverride: 1000), ["past the end of the file"])
    }

    func test_defect_invalidJSON() throws {
        assertRejects(try rawFile(header: "{\"w\":{\"dtype\":\"F32\",}"), ["invalid JSON"])
        assertRejects(try rawFile("b.safetensors", header: "{\"w\" \"x\"}"), ["invalid JSON"])
        assertRejects(try rawFile("c.safetensors", header: "[1,2]"), ["'{'"])
        assertRejects(try rawFile("d.safetensors", header: "{} trailing"), ["invalid JSON"])
        assertRejects(try rawFile("e.safetensors", header: "{\"\u{01}\":1}"), ["control character"])
        assertRejects(try rawFile("f.safetensors", header: String(repeating: "{\"a\":", count: 200) + "1" + String(repeating: "}", count: 200)), ["nesting"])
    }

    func test_defect_entryNotObject_orMissingFields() throws {
        assertRejects(try rawFile(header: "{\"w\":5}"), ["'w'", "object"])
        assertRejects(try rawFile("b.safetensors", header: "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), ["'w'", "dtype"])
        assertRejects(try rawFile("c.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), ["'w'", "shape"])
        assertRejects(try rawFile("d.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", data: [0, 0, 0, 0]), ["'w'", "data_offsets"])
        assertRejects(try rawFile("e.safetensors", header: "{\"w\":{\(f32x2),\"data_offsets\":[0,8],\"extra\":1}}", data: [UInt8](repeating: 0, count: 8)), ["'w'", "extra"])
        assertRejects(try rawFile("f.safetensors", header: "{\"__metadata__\":{\"k\":1}}"), ["__metadata__", "'k'"])
    }

    func test_defect_unknownDtype() throws {
        let url = try rawFile(header: "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", data: [0, 0])
        assertRejects(url, ["'w'", "F8_E4M3"])
    }

    func test_defect_shapeBytesMismatch() throws {
        let url = try rawFile(header: "{\"w\":{\(f32x2),\"data_offsets\":[0,12]}}", data: [UInt8](repeating: 0, count: 12))
        assertRejects(url, ["'w'", "8 bytes", "12"])
    }

    func test_defect_spanPastEnd() throws {
        let url = try rawFile(header: "{\"w\":{\(f32x2),\"data_offsets\":[4,12]}}", data: [UInt8](repeating: 0, count: 8))
        assertRejects(url, ["'w'", "past the end"])
    }

    func test_defect_offsetsReversedOrNegative() throws {
        assertRejects(try rawFile(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", data: [UInt8](repeating: 0, count: 8)), ["'w'", "[8, 0]"])
        assertRejects(try rawFile("b.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}", data: [UInt8](repeating: 0, count: 8)), ["'w'"])
        assertRejects(try rawFile("c.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0.5]}}", data: []), ["'w'", "data_offsets"])
    }

    func test_defect_overlappingSpans() throws {
        let url = try rawFile(header: "{\"a\":{\(f32x2),\"data_offsets\":[0,8]},\"b\":{\(f32x2),\"data_offsets\":[4,12]}}",
                              data: [UInt8](repeating: 0, count: 12))
        assertRejects(url, ["'a'", "'b'", "overlaps"])
        // Identical spans overlap too; empty spans never do.
        assertRejects(try rawFile("b.safetensors", header: "{\"a\":{\(f32x2),\"data_offsets\":[0,8]},\"b\":{\(f32x2),\"data_offsets\":[0,8]}}",
                                  data: [UInt8](repeating: 0, count: 8)), ["overlaps"])
        XCTAssertNoThrow(try SafeTensorsFile(url: try rawFile("c.safetensors",
            header: "{\"a\":{\(f32x2),\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
            data: [UInt8](repeating: 0, count: 8))))
    }

    func test_defect_duplicateNames() throws {
        let url = try rawFile(header: "{\"w\":{\(f32x2),\"data_offsets\":[0,8]},\"w\":{\(f32x2),\"data_offsets\":[8,16]}}",
                              data: [UInt8](repeating: 0, count: 16))
        assertRejects(url, ["duplicate", "'w'"])
        // Duplicates spelled differently (escape) are still duplicates.
        let esc = try rawFile("b.safetensors", header: "{\"w\":{\(f32x2),\"data_offsets\":[0,8]},\"\\u0077\":{\(f32x2),\"data_offsets\":[8,16]}}",
                              data: [UInt8](repeating: 0, count: 16))
        assertRejects(esc, ["duplicate", "'w'"])
    }

    func test_defect_negativeShape() throws {
        let url = try rawFile(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,0]}}")
        assertRejects(url, ["'w'", "shape", "-1"])
        assertRejects(try rawFile("b.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}"), ["'w'", "shape"])
        assertRejects(try rawFile("c.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,0]}}"), ["'w'", "shape"])
    }

    func test_defect_shapeProductOverflow() throws {
        let big = 1 << 40
        assertRejects(try rawFile(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[\(big),\(big)],\"data_offsets\":[0,0]}}"), ["'w'", "overflow"])
        // Element count fits, byte count does not.
        assertRejects(try rawFile("b.safetensors", header: "{\"w\":{\"dtype\":\"F64\",\"shape\":[\(Int.max / 4)],\"data_offsets\":[0,0]}}"), ["'w'", "overflow"])
        // Overflowing partial product is rejected even if a later 0 makes the total 0.
        assertRejects(try rawFile("c.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[\(big),\(big),0],\"data_offsets\":[0,0]}}"), ["'w'", "overflow"])
    }

    // MARK: fuzz

    func test_fuzz_randomMutations_loadOrThrow_neverCrash() throws {
        let url = dir.appendingPathComponent("seed.safetensors")
        try SafeTensorsWriter.write([
            ("a", Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])),
            ("b", Tensor(shape: [4], data: [7, 8, 9, 10])),
            ("c", Tensor(shape: [], data: [11])),
        ], to: url, metadata: ["format": "pt"])
        let valid = [UInt8](try Data(contentsOf: url))
        let headerEnd = 8 + Int(valid.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = SplitMix64(seed: 0x5EED_CAFE)
        let target = dir.appendingPathComponent("fuzz.safetensors")
        let alphabet = Array("{}[]\",:0123456789-.eE FBUIO_abcdefgnrstu\\".utf8)
        var loaded = 0, rejected = 0
        for _ in 0..<2000 {
            var b = valid
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                // Mostly hit the header, where the parsing and validation live.
                let inHeader = rng.next() % 4 != 0
                let pos = inHeader ? Int(rng.next() % UInt64(headerEnd)) : Int(rng.next() % UInt64(b.count))
                guard pos < b.count else { continue }
                switch rng.next() % 6 {
                case 0: b[pos] ^= UInt8(1 << (rng.next() % 8))
                case 1: b[pos] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 2: b.remove(at: pos)
                case 3: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: pos)
                case 4: b.removeSubrange(pos...)
                default:  // scramble one byte of the length prefix
                    let i = Int(rng.next() % 8)
                    if i < b.count { b[i] = UInt8(truncatingIfNeeded: rng.next()) }
                }
            }
            try Data(b).write(to: target)
            do {
                let f = try SafeTensorsFile(url: target)
                for n in f.names {
                    let t = try f.tensor(n)
                    XCTAssertEqual(t.data.count, t.shape.reduce(1, *))
                }
                loaded += 1
            } catch is EngineError {
                rejected += 1
            }
        }
        XCTAssertEqual(loaded + rejected, 2000)
        XCTAssertGreaterThan(rejected, 1000)
        XCTAssertGreaterThan(loaded, 10)
    }
}

/// Deterministic PRNG for reproducible fuzz tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
