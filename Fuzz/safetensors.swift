// libFuzzer target: safetensors header validation on raw file bytes (`SafeTensorsFile.readHeader`).
@testable import EaselEngine

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensorsHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let header = try? SafeTensorsFile.readHeader(input, maxHeaderBytes: 1 << 20, err: { EngineError($0) }) {
        // Whatever passes validation must describe spans inside the data section.
        for entry in header.entries.values {
            precondition(entry.begin >= 0 && entry.begin <= entry.end && entry.end <= size - 8 - header.length)
        }
    }
    return 0
}
