import Foundation

/// Writes f32 tensors to a `.safetensors` file (stored as F32, F16 or BF16).
public enum SafeTensorsWriter {
    /// How the elements are stored on disk. Narrowing rounds to nearest, ties to even.
    public enum Storage: Sendable {
        case f32, f16, bf16

        var dtype: SafeTensorsDType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .bf16: return .bf16
            }
        }
    }

    /// Writes `tensors` in the given order (the data section is laid out in that order, with no
    /// gaps). The JSON header is padded with spaces so the data section starts 8-byte aligned.
    /// The file is replaced atomically.
    public static func write(_ tensors: [(String, Tensor)], to url: URL,
                             metadata: [String: String] = [:], storage: Storage = .f32) throws {
        try encode(tensors, metadata: metadata, storage: storage, fileDescription: url.path)
            .write(to: url, options: .atomic)
    }

    /// The bytes `write` would put in a file.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:],
                              storage: Storage = .f32, fileDescription: String = "<memory>") throws -> Data {
        let dtype = storage.dtype
        var seen = Set<String>()
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            header += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        for (name, t) in tensors {
            guard name != "__metadata__" else {
                throw EngineError("safetensors \(fileDescription): '__metadata__' cannot be a tensor name")
            }
            guard seen.insert(name).inserted else {
                throw EngineError("safetensors \(fileDescription): duplicate tensor name '\(name)'")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.data.count == t.shape.reduce(1, *) else {
                throw EngineError("safetensors \(fileDescription): tensor '\(name)' shape \(t.shape) does not match \(t.data.count) elements")
            }
            let bytes = t.data.count * dtype.size
            if !first { header += "," }
            first = false
            header += "\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }

        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, t) in tensors {
            switch storage {
            case .f32:
                #if _endian(little)
                t.data.withUnsafeBytes { out.append(contentsOf: $0) }
                #else
                t.data.map { $0.bitPattern.littleEndian }.withUnsafeBytes { out.append(contentsOf: $0) }
                #endif
            case .f16:
                let halves = t.data.map { Float16($0).bitPattern.littleEndian }
                halves.withUnsafeBytes { out.append(contentsOf: $0) }
            case .bf16:
                let halves = t.data.map { bf16Bits($0).littleEndian }
                halves.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// f32 → bf16 bit pattern, round to nearest even (as PyTorch does); NaN stays a quiet NaN.
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
