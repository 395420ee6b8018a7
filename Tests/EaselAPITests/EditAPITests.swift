import EaselAPI
import EaselEngine
import EaselJSON
import Foundation
import XCTest

/// Image-to-image, inpainting and per-request LoRAs through POST /v1/generate on the live daemon: jobs with
/// different LoRAs and edits share batches, each image equals its request run alone, and bad inputs are 400s
/// naming the field (or, for a LoRA that only fails against the model, a failed job that leaves the rest alone).
final class EditAPITests: XCTestCase {
    /// A random diffusers-format LoRA for easel-shapes.
    static func writeLoRA(_ url: URL, seed: UInt64, wrongShape: Bool = false) throws {
        var state = seed
        func rnd() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        var tensors: [(String, Tensor)] = []
        for m in ["transformer_blocks.0.attn.to_q", "transformer_blocks.1.ff.net.2", "single_transformer_blocks.2.proj_out"] {
            let t = sharedShapes.loraTargets.transformer[m]!
            let inF = wrongShape ? t.inF + 4 : t.inF
            tensors.append(("transformer.\(m).lora_A.weight", Tensor(shape: [4, inF], data: (0..<(4 * inF)).map { _ in rnd() * 0.3 })))
            tensors.append(("transformer.\(m).lora_B.weight", Tensor(shape: [t.out, 4], data: (0..<(4 * t.out)).map { _ in rnd() * 0.3 })))
        }
        try SafeTensorsWriter.write(tensors, to: url)
    }

    static func dataURI(_ rgb: [UInt8], width: Int, height: Int) throws -> String {
        "data:image/png;base64," + (try PNGEncoder.encode(rgb: rgb, width: width, height: height)).base64EncodedString()
    }

    func testEditsAndMixedLoRAsShareABatchAndMatchTheirSoloRuns() throws {
        let loraDir = try makeTempDir(#function + "-loras")
        try Self.writeLoRA(loraDir.appendingPathComponent("a.safetensors"), seed: 1)
        try Self.writeLoRA(loraDir.appendingPathComponent("b.safetensors"), seed: 2)
        try Self.writeLoRA(loraDir.appendingPathComponent("bad.safetensors"), seed: 3, wrongShape: true)
        let daemon = try makeDaemon { $0.loraDir = loraDir }
        defer { daemon.stop() }
        let port = try daemon.start()

        // A 64x64 source: left half orange, right half teal; the mask repaints the right half.
        var rgb = [UInt8](repeating: 0, count: 64 * 64 * 3), mask = rgb
        for y in 0..<64 { for x in 0..<64 {
            let p = (y * 64 + x) * 3
            let c: [UInt8] = x < 32 ? [230, 120, 30] : [20, 160, 150]
            rgb[p] = c[0]; rgb[p + 1] = c[1]; rgb[p + 2] = c[2]
            if x >= 32 { mask[p] = 255; mask[p + 1] = 255; mask[p + 2] = 255 }
        }}
        let image = try Self.dataURI(rgb, width: 64, height: 64), maskURI = try Self.dataURI(mask, width: 64, height: 64)

        // Bad inputs first: each a 400 naming its field, none queued.
        let m = #""model": "easel-shapes", "prompt": "\#(goodPrompt)""#
        let bad: [(String, String)] = [
            (#"{\#(m), "loras": [{"path": "missing.safetensors"}]}"#, "loras[0].path"),
            (#"{\#(m), "loras": [{"path": "../a.safetensors"}]}"#, "loras[0].path"),
            (#"{\#(m), "loras": [{"path": "https://example.com/x.safetensors"}]}"#, "loras[0].path"),
            (#"{\#(m), "loras": [{"path": "a.safetensors", "scale": "big"}]}"#, "loras[0].scale"),
            (#"{\#(m), "image": "\#(image)", "strength": 0}"#, "strength"),
            (#"{\#(m), "image": "\#(image)", "strength": 1.5}"#, "strength"),
            (#"{\#(m), "image": "\#(image)", "width": 128}"#, "image"),
            (#"{\#(m), "image": "\#(image)", "mask": "\#(try Self.dataURI([UInt8](repeating: 255, count: 32 * 64 * 3), width: 32, height: 64))"}"#, "mask"),
        ]
        for (body, field) in bad {
            let a = try LoopbackClient.json(port: port, "POST", "/v1/generate", body)
            XCTAssertEqual(a.status, 400, "\(body.prefix(100)) → \(a.text.prefix(200))")
            XCTAssertEqual(a.errorField, field, "\(body.prefix(100)) → \(a.text.prefix(200))")
        }
        XCTAssertEqual(try daemon.store.queuedCount(), 0)

        let bodies = [
            #"{\#(m), "seed": 3, "loras": [{"path": "a.safetensors", "scale": 1}]}"#,
            #"{\#(m), "seed": 3, "loras": [{"path": "b.safetensors", "scale": 0.7}, {"path": "a.safetensors", "scale": 0.5}]}"#,
            #"{\#(m), "seed": 3}"#,
            #"{\#(m), "seed": 3, "loras": [{"path": "bad.safetensors"}]}"#,
            #"{\#(m), "seed": 4, "image": "\#(image)", "strength": 0.5}"#,
            #"{\#(m), "seed": 4, "image": "\#(image)", "mask": "\#(maskURI)", "strength": 0.5, "loras": [{"path": "a.safetensors"}]}"#,
        ]
        var ids = [Int: String]()
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: bodies.count) { i in
            let a = try? LoopbackClient.json(port: port, "POST", "/v1/generate", bodies[i])
            lock.withLock { ids[i] = a?.json["id"]?.stringValue }
        }
        XCTAssertEqual(ids.count, bodies.count)
        var jobs: [Int: JSONValue] = [:]
        eventually(timeout: 120, "all jobs finished") {
            for (i, id) in ids { jobs[i] = try? LoopbackClient.request(port: port, "GET", "/v1/jobs/\(id)").json }
            return jobs.values.allSatisfy { ["succeeded", "failed"].contains($0["status"]?.stringValue ?? "") } && jobs.count == ids.count
        }
        XCTAssertEqual(jobs[3]?["status"]?.stringValue, "failed", "the LoRA for another model fails its job")
        XCTAssertEqual(jobs[3]?["error"]?["code"]?.stringValue, "invalid_lora")
        XCTAssertTrue(jobs[3]?["error"]?["message"]?.stringValue?.contains("another model") ?? false, "\(String(describing: jobs[3]))")
        for i in [0, 1, 2, 4, 5] { XCTAssertEqual(jobs[i]?["status"]?.stringValue, "succeeded", "job \(i): \(String(describing: jobs[i]))") }
        XCTAssertTrue(jobs[4]?["input"]?["image"]?.stringValue?.hasPrefix("sha256:") ?? false, "the job names its image by hash")

        func pixels(_ i: Int) throws -> [Float] {
            let png = try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(ids[i]!)/images/0.png").body
            return try ImageInput.image(png: png).data
        }
        // Each image against the same request run alone in the engine.
        func solo(_ body: String) throws -> [Float] {
            let spec = try GenerateRequestValidator.spec(fromInput: try XCTUnwrap(jobs[bodies.firstIndex(of: body)!]?["input"]).data)
            var r = spec.engineRequest
            if let img = spec.image { r.image = try ImageInput.image(png: try InputStore(dataDir: daemon.config.dataDir).get(img)) }
            if let mk = spec.mask { r.mask = try ImageInput.mask(png: try InputStore(dataDir: daemon.config.dataDir).get(mk)) }
            if let refs = spec.loras {
                r.lora = LoRAStack(try refs.map {
                    .init(adapter: try LoRALoader.load(url: loraDir.appendingPathComponent($0.path), targets: sharedShapes.loraTargets), scale: Float($0.scale))
                })
            }
            let t = try sharedShapes.generate(r)[0]
            return try ImageInput.image(png: try PNGEncoder.encode(rgb: PNGEncoder.rgb(fromCHW: t), width: 64, height: 64)).data
        }
        for i in [0, 1, 2, 4, 5] {
            let db = psnr(try pixels(i), try solo(bodies[i]))
            XCTAssertGreaterThanOrEqual(db, 45, "job \(i) against its solo run: \(db) dB")
        }
        XCTAssertLessThan(psnr(try pixels(0), try pixels(2)), 35, "the LoRA changes the image")
        XCTAssertLessThan(psnr(try pixels(0), try pixels(1)), 35, "another LoRA stack, another image")
        // Inpainting keeps the unmasked (left) half close to the source.
        let inpainted = try pixels(5)
        var err = 0.0
        for y in 0..<64 { for x in 0..<28 { for c in 0..<3 {
            err += abs(Double(inpainted[c * 4096 + y * 64 + x]) - Double(rgb[(y * 64 + x) * 3 + c]) / 255)
        }}}
        XCTAssertLessThan(err / Double(64 * 28 * 3), 0.03, "kept region stays the source image")
        let sizes = jobs.values.compactMap { $0["metrics"]?["batch_size"]?.intValue }
        XCTAssertGreaterThan(sizes.max() ?? 0, 1, "jobs with different LoRAs ran batched: \(sizes)")
    }
}

private func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var mse = 0.0
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); mse += d * d }
    mse /= Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}
