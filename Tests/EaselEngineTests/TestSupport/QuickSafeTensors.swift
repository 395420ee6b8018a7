import Foundation
@testable import EaselEngine

/// Throwaway safetensors reader for component tests: reads the whole file, widens F32/F16/BF16 to Float.
/// (The engine's real store replaces this; it is deliberately minimal.)
enum QuickSafeTensors {
    static func load(_ url: URL) throws -> [String: Tensor] {
        let bytes = try Data(contentsOf: url)
        guard bytes.count >= 8 else { throw EngineError("\(url.path): too short for safetensors") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[bytes.startIndex + i]) << (8 * UInt64(i)) }
        let headerEnd = 8 + Int(n)
        guard headerEnd <= bytes.count,
              let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<headerEnd)) as? [String: Any]
        else { throw EngineError("\(url.path): bad safetensors header") }
        var out: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offs = info["data_offsets"] as? [Int]
            else { throw EngineError("\(url.path): bad entry '\(name)'") }
            let count = shape.reduce(1, *)
            let start = headerEnd + offs[0]
            var data = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                for i in 0..<count {
                    switch dtype {
                    case "F32":
                        data[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self))
                    case "F16":
                        data[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self)))
                    case "BF16":
                        let b = raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self)
                        data[i] = Float(bitPattern: UInt32(b) << 16)
                    default: break
                    }
                }
            }
            guard ["F32", "F16", "BF16"].contains(dtype) else { throw EngineError("\(url.path): '\(name)' has dtype \(dtype)") }
            out[name] = Tensor(shape: shape, data: data)
        }
        return out
    }

    static func weights(_ url: URL) throws -> DictionaryWeights { DictionaryWeights(try load(url)) }
}

/// ‖a − b‖ / ‖b‖ over all elements.
func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a.data[i]) - Double(b.data[i])
        num += d * d
        den += Double(b.data[i]) * Double(b.data[i])
    }
    return (num / max(den, 1e-300)).squareRoot()
}

/// Fixtures/components/<name>, from the test bundle.
func componentFixture(_ name: String) throws -> URL {
    guard let base = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw EngineError("test bundle has no Fixtures folder")
    }
    return base.appendingPathComponent("components").appendingPathComponent(name)
}
