// libFuzzer target: tokenizer.json loading (every normalizer, pre-tokenizer, model and post-processor reader) and,
// for a file that loads, encoding a few strings.
import Foundation
@testable import EaselEngine

private let samples = ["", "Hello world", "a photo of a cat, 4k", "ÄÖü é e\u{301} 😀 \u{FEFF}x", "  spaced\t\nout  "]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Data(UnsafeRawBufferPointer(start: data, count: size))
    guard let json = try? TokenizerJSON.parse(bytes, name: "fuzz.json"),
          let tokenizer = try? Tokenizer.fromTokenizerJSON(json) else { return 0 }
    for s in samples {
        _ = tokenizer.encode(s)
        _ = tokenizer.encodeForPipeline(s, maxLength: 16)
    }
    return 0
}
