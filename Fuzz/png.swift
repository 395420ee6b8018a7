// libFuzzer target: the PNG decoder (chunks, CRCs, zlib streams, filters, every colour type and bit depth).
import EaselEngine
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Data(UnsafeRawBufferPointer(start: data, count: size))
    if let image = try? PNGEncoder.decode(bytes, maxPixels: 1 << 20) {
        precondition(image.rgb.count == image.width * image.height * 3)
    }
    return 0
}
