import EaselAPI
import EaselEngine
import EaselJSON
import EaselTestSupport
import Foundation
import XCTest

/// `output_format` through the daemon: the same seed as PNG, JPEG and WebP; each image is stored, listed and served
/// in its own format, and is the PNG's picture up to the codec's loss.
final class OutputFormatAPITests: XCTestCase {
    func testJPEGAndWebPJobsServeTheSamePictureInTheirFormat() throws {
        let d = try makeDaemon()
        defer { d.stop() }
        let port = try d.start()
        func submit(_ extra: String) throws -> String {
            try LoopbackClient.submit(port: port, #"{"model": "easel-shapes", "prompt": "a large red circle in the center on a blue background", "seed": 5, "num_images": 2"# + extra + "}")
        }
        let png = try submit(""), jpeg = try submit(#", "output_format": "jpeg""#),
            webp = try submit(#", "output_format": "webp", "output_quality": 80"#),
            lossless = try submit(#", "output_format": "webp", "output_quality": 100"#)
        LoopbackClient.wait(port: port, [png, jpeg, webp, lossless])

        func pixels(_ id: String, _ index: Int, _ format: ImageFormat) throws -> [UInt8] {
            let job = try LoopbackClient.job(port: port, id)
            let image = try XCTUnwrap(job["images"]?.arrayValue?[index])
            XCTAssertEqual(image["content_type"]?.stringValue, format.contentType)
            let url = try XCTUnwrap(image["url"]?.stringValue)
            XCTAssertTrue(url.hasSuffix("/v1/jobs/\(id)/images/\(index).\(format.fileExtension)"), url)
            let a = try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(id)/images/\(index).\(format.fileExtension)")
            XCTAssertEqual(a.status, 200)
            XCTAssertEqual(a.headers["Content-Type"], format.contentType)
            let d = try format.decode(a.body)
            XCTAssertEqual([d.width, d.height], [image["width"]?.intValue, image["height"]?.intValue].compactMap { $0 })
            return d.rgb
        }
        func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
            let mse = zip(a, b).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(a.count)
            return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
        }
        for i in 0..<2 {
            let reference = try pixels(png, i, .png)
            XCTAssertGreaterThan(psnr(try pixels(jpeg, i, .jpeg), reference), 32, "JPEG at the default quality 90")
            XCTAssertGreaterThan(psnr(try pixels(webp, i, .webp), reference), 28, "WebP at 80")
            XCTAssertEqual(try pixels(lossless, i, .webp), reference, "WebP at 100 is lossless")
        }
        // Another extension than the stored one is not that image.
        let wrong = try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(jpeg)/images/0.png")
        XCTAssertEqual(wrong.status, 404)
        XCTAssertTrue(wrong.text.contains("0.jpeg"), wrong.text)
        XCTAssertEqual(try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(png)/images/0.webp").status, 404)
    }

    func testWebPLargerThanItsSideLimitIsRefusedUpFront() throws {
        let d = try makeDaemon { $0.models[0].limits.maxWidth = 16384 }
        defer { d.stop() }
        let port = try d.start()
        let a = try LoopbackClient.json(port: port, "POST", "/v1/generate",
                                        #"{"model": "easel-shapes", "prompt": "x", "width": 16384, "height": 64, "output_format": "webp"}"#)
        XCTAssertEqual(a.status, 400, a.text)
        XCTAssertEqual(a.errorField, "output_format")
    }
}
