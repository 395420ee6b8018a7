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

    /// Step caching through the API: the model's config turns it on, a request can turn it off, and each job's
    /// metrics count its transformer passes and the cached ones (true CFG: two passes per step).
    func testStepCacheFromTheModelConfigIsCountedInTheJobMetrics() throws {
        let daemon = try makeDaemon { c in for i in c.models.indices { c.models[i].cacheThreshold = 0.15 } }
        defer { daemon.stop() }
        let port = try daemon.start()
        let m = #""model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 5, "steps": 28"#
        var jobs: [JSONValue] = []
        for body in [#"{\#(m)}"#, #"{\#(m), "cache": false}"#] {
            let a = try LoopbackClient.json(port: port, "POST", "/v1/generate", body, headers: [("Prefer", "wait=60")])
            XCTAssertEqual(a.status, 200, a.text)
            jobs.append(a.json)
        }
        XCTAssertEqual(jobs[0]["input"]?["cache"]?["threshold"]?.doubleValue, 0.15, "the model's threshold, echoed")
        XCTAssertNil(jobs[1]["input"]?["cache"], "turned off by the request")
        for j in jobs {
            XCTAssertEqual(j["status"]?.stringValue, "succeeded", "\(j)")
            XCTAssertEqual(j["metrics"]?["transformer_passes"]?.intValue, 56, "\(j)")
        }
        let cached = jobs[0]["metrics"]?["cached_passes"]?.intValue ?? 0
        XCTAssertGreaterThanOrEqual(cached, 56 / 3, "at least a third of the passes skipped: \(cached)")
        XCTAssertEqual(jobs[1]["metrics"]?["cached_passes"]?.intValue, 0)
        // Read back from the store, not only from the finishing write.
        let again = try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(jobs[0]["id"]!.stringValue!)").json
        XCTAssertEqual(again["metrics"]?["cached_passes"]?.intValue, cached)
    }

    /// POST /v1/uploads: a PNG body becomes an id a request can use as `image` or `mask`; bad uploads are clear
    /// errors; uploads and request images are pruned once unused for the retention, never while a kept job names them.
    func testUploadsFeedImageToImageAndArePrunedOnlyWhenUnused() throws {
        let daemon = try makeDaemon { $0.maxUploadBytes = 4000 }
        defer { daemon.stop() }
        let port = try daemon.start()
        var rgb = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for i in 0..<rgb.count { rgb[i] = UInt8((i / 3) % 64 * 3) }
        let png = try PNGEncoder.encode(rgb: rgb, width: 64, height: 64)
        XCTAssertLessThan(png.count, 4000)
        func upload(_ body: Data, type: String = "image/png") throws -> Answer {
            try LoopbackClient.request(port: port, "POST", "/v1/uploads", headers: [("Content-Type", type)], body: body)
        }
        let up = try upload(png)
        XCTAssertEqual(up.status, 201, up.text)
        let id = try XCTUnwrap(up.json["id"]?.stringValue)
        XCTAssertTrue(id.hasPrefix("sha256:") && id.count == 71, id)
        XCTAssertEqual(up.json["width"]?.intValue, 64)
        XCTAssertEqual(up.json["bytes"]?.intValue, png.count)
        XCTAssertEqual(try upload(png).json["id"]?.stringValue, id, "content-addressed: the same bytes, the same id")

        XCTAssertEqual(try upload(png, type: "image/gif").status, 415)
        XCTAssertEqual(try upload(png, type: "image/jpeg").status, 400, "a PNG sent as JPEG is not a readable JPEG")
        // JPEG and WebP are kept as the PNG of their pixels: lossless WebP of the same pixels is the same upload.
        let webp = try upload(try ImageFormat.webp.encode(rgb: rgb, width: 64, height: 64, quality: 100), type: "image/webp")
        XCTAssertEqual(webp.status, 201, webp.text)
        XCTAssertEqual(webp.json["id"]?.stringValue, id, "lossless WebP of the PNG's pixels: the PNG's id")
        let jpegBytes = try ImageFormat.jpeg.encode(rgb: rgb, width: 64, height: 64)
        let jpeg = try upload(jpegBytes, type: "image/jpeg")
        XCTAssertEqual(jpeg.status, 201, jpeg.text)
        XCTAssertEqual(jpeg.json["content_type"]?.stringValue, "image/png")
        XCTAssertEqual(jpeg.json["width"]?.intValue, 64)
        let kept = try InputStore(dataDir: daemon.config.dataDir).get(try XCTUnwrap(jpeg.json["id"]?.stringValue))
        XCTAssertEqual(try PNGEncoder.decode(kept).rgb, try ImageFormat.jpeg.decode(jpegBytes).rgb,
                       "the stored PNG holds the JPEG's decoded pixels")
        XCTAssertEqual(try upload(jpegBytes.prefix(200), type: "image/jpeg").status, 400, "a truncated JPEG")
        XCTAssertEqual(try upload(Data("not a png".utf8)).status, 400)
        XCTAssertEqual(try upload(Data()).status, 400)
        var noisy = [UInt8](repeating: 0, count: 64 * 64 * 3)
        var g: UInt64 = 1
        for i in noisy.indices { g = g &* 6364136223846793005 &+ 1; noisy[i] = UInt8(truncatingIfNeeded: g >> 56) }
        let big = try upload(try PNGEncoder.encode(rgb: noisy, width: 64, height: 64))
        XCTAssertEqual(big.status, 413, big.text)
        XCTAssertEqual(big.json["error"]?["code"]?.stringValue, "payload_too_large")

        let m = #""model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 2"#
        let missing = "sha256:" + String(repeating: "0", count: 64)
        let bad = try LoopbackClient.json(port: port, "POST", "/v1/generate", #"{\#(m), "image": "\#(missing)"}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad.errorField, "image")
        let job = try LoopbackClient.json(port: port, "POST", "/v1/generate", #"{\#(m), "image": "\#(id)", "strength": 0.5}"#,
                                          headers: [("Prefer", "wait=60")])
        XCTAssertEqual(job.status, 200, job.text)
        XCTAssertEqual(job.json["status"]?.stringValue, "succeeded", job.text)
        XCTAssertEqual(job.json["input"]?["image"]?.stringValue, id)
        // A JPEG data URI: decoded and stored as the same PNG the JPEG upload became.
        let uri = "data:image/jpeg;base64," + jpegBytes.base64EncodedString()
        let fromURI = try LoopbackClient.json(port: port, "POST", "/v1/generate", #"{\#(m), "image": "\#(uri)", "strength": 0.5}"#,
                                              headers: [("Prefer", "wait=60")])
        XCTAssertEqual(fromURI.json["status"]?.stringValue, "succeeded", fromURI.text)
        XCTAssertEqual(fromURI.json["input"]?["image"]?.stringValue, jpeg.json["id"]?.stringValue)

        // A second upload no job uses; both are older than the retention two days from now.
        rgb[0] = 255
        let unused = try XCTUnwrap(try upload(try PNGEncoder.encode(rgb: rgb, width: 64, height: 64)).json["id"]?.stringValue)
        let store = InputStore(dataDir: daemon.config.dataDir)
        XCTAssertTrue(store.has(unused))
        XCTAssertEqual(daemon.pruneInputs(), [], "nothing is older than the retention yet")
        let later = Date().addingTimeInterval(2 * 86400)
        XCTAssertEqual(daemon.pruneInputs(now: later), [unused], "the unused upload goes; the one a job names stays")
        XCTAssertTrue(store.has(id))
        XCTAssertFalse(store.has(unused))
        // What keeps it: the kept job that names it. Without any reference it would go too.
        let jpegID = try XCTUnwrap(jpeg.json["id"]?.stringValue)
        XCTAssertEqual(Set(try daemon.store.inputs(containing: "sha256:").flatMap(InputStore.ids(in:))), [id, jpegID])
        XCTAssertEqual(Set(store.prune(retention: 86400, referenced: [], now: later)), [id, jpegID])
        XCTAssertFalse(store.has(id))
    }

    /// LoRAs named by URL: fetched once through the SSRF guard (loopback allowed here only because the test turns
    /// private networks and plain http on), cached on disk by the URL's hash, size-capped; a URL that cannot be
    /// fetched fails its job alone with a clear error.
    func testLoRAURLsAreFetchedOnceCappedAndFailClearly() throws {
        let file = try makeTempDir(#function + "-src").appendingPathComponent("a.safetensors")
        try Self.writeLoRA(file, seed: 1)
        let lora = try Data(contentsOf: file)
        let server = try WebhookReceiver(script: [
            .init(status: 200, body: lora), .init(status: 404), .init(status: 200, body: Data(count: 3 << 20)),
        ])
        defer { server.close() }
        let daemon = try makeDaemon { c in
            c.allowPrivateNetworks = true
            c.loraAllowHTTP = true
            c.loraMaxDownloadMB = 2
        }
        defer { daemon.stop() }
        let port = try daemon.start()
        let base = "http://127.0.0.1:\(server.port)"
        let m = #""model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 3"#
        func run(_ extra: String) throws -> JSONValue {
            let a = try LoopbackClient.json(port: port, "POST", "/v1/generate", #"{\#(m)\#(extra)}"#, headers: [("Prefer", "wait=60")])
            XCTAssertEqual(a.status, 200, a.text)
            return a.json
        }
        let first = try run(#", "loras": [{"path": "\#(base)/a.safetensors"}]"#)
        XCTAssertEqual(first["status"]?.stringValue, "succeeded", "\(first)")
        let second = try run(#", "loras": [{"path": "\#(base)/a.safetensors", "scale": 1}]"#)
        XCTAssertEqual(second["status"]?.stringValue, "succeeded", "\(second)")
        XCTAssertEqual(server.requests.count, 1, "fetched once")
        XCTAssertEqual(server.requests.first?.path, "/a.safetensors")

        // The image is the one the same file gives when loaded from disk.
        func pixels(_ job: JSONValue) throws -> [Float] {
            try ImageInput.image(png: try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(job["id"]!.stringValue!)/images/0.png").body).data
        }
        var r = GenerationRequest(prompt: goodPrompt, width: 64, height: 64, steps: sharedShapes.defaults.steps,
                                  guidance: sharedShapes.defaults.guidance, seed: 3)
        r.lora = LoRAStack([.init(adapter: try LoRALoader.load(url: file, targets: sharedShapes.loraTargets), scale: 1)])
        let t = try sharedShapes.generate(r)[0]
        let solo = try ImageInput.image(png: try PNGEncoder.encode(rgb: PNGEncoder.rgb(fromCHW: t), width: 64, height: 64)).data
        XCTAssertGreaterThanOrEqual(psnr(try pixels(first), solo), 45)

        let missing = try run(#", "loras": [{"path": "\#(base)/missing.safetensors"}]"#)
        XCTAssertEqual(missing["status"]?.stringValue, "failed")
        XCTAssertEqual(missing["error"]?["code"]?.stringValue, "invalid_lora")
        XCTAssertTrue(missing["error"]?["message"]?.stringValue?.contains("HTTP 404") ?? false, "\(missing)")
        let huge = try run(#", "loras": [{"path": "\#(base)/huge.safetensors"}]"#)
        XCTAssertEqual(huge["status"]?.stringValue, "failed")
        XCTAssertTrue(huge["error"]?["message"]?.stringValue?.contains("larger than") ?? false, "\(huge)")
        XCTAssertEqual(try run("")["status"]?.stringValue, "succeeded", "the queue goes on")

        // Refused at submission: a scheme other than http(s), and (default policy) http or a private address.
        let strict = try makeDaemon(#function + "-strict")
        defer { strict.stop() }
        let sp = try strict.start()
        for (path, needle) in [("ftp://example.com/a.safetensors", "https"), ("\(base)/a.safetensors", "https"),
                               ("https://127.0.0.1:\(server.port)/a.safetensors", "not allowed")] {
            let a = try LoopbackClient.json(port: sp, "POST", "/v1/generate", #"{\#(m), "loras": [{"path": "\#(path)"}]}"#)
            XCTAssertEqual(a.status, 400, a.text)
            XCTAssertEqual(a.errorField, "loras[0].path")
            XCTAssertTrue(a.text.contains(needle), a.text)
        }
    }
}

private func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var mse = 0.0
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); mse += d * d }
    mse /= Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}
