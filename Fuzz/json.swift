// libFuzzer target: EaselJSON's reader under both limit sets, the writer and the Codable decoder. A document that
// reads must write back to text that reads as the same value (the writer and the reader agree).
import EaselJSON

private struct Probe: Decodable {
    var model: String?
    var seed: UInt64?
    var steps: Int?
    var guidance: Double?
    var loras: [[String: Double]]?
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    for limits in [JSONLimits.strict, JSONLimits.tokenizer] {
        guard let value = try? JSONValue.parse(input, limits: limits) else { continue }
        let again = try? JSONValue.parse(value.bytes, limits: limits)
        precondition(again == value, "write then read changed the value")
        _ = try? JSONValueDecoder().decode(Probe.self, from: value)
        _ = value.intValue
        _ = value.uint64Value
    }
    return 0
}
