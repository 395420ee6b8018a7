// libFuzzer target: the JPEG decoder (libjpeg-turbo through CEaselCodecs: its errors come back through a
// longjmp in C, which must leave no leak and no half-written image).
import EaselEngine
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Data(UnsafeRawBufferPointer(start: data, count: size))
    if let image = try? ImageFormat.jpeg.decode(bytes, maxPixels: 1 << 20) {
        precondition(image.width > 0 && image.height > 0 && image.width * image.height <= 1 << 20)
        precondition(image.rgb.count == image.width * image.height * 3)
    }
    return 0
}
