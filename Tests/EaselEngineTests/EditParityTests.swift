import Foundation
import XCTest
@testable import EaselEngine

/// Image-to-image, inpainting and LoRAs against diffusers 0.42 (FluxImg2ImgPipeline, FluxInpaintPipeline,
/// load_lora_weights + set_adapters) on the tiny `dev_nonsquare` pipeline with the same noise and the latent mode
/// (Tools/fixtures/make_edit_refs.py, Fixtures/edits/README in its docstring).
final class EditParityTests: XCTestCase {
    static let pipe: FluxPipeline = try! FluxPipeline(folder: Fixtures.pipeline("dev_nonsquare"))
    static var edits: URL { Fixtures.root.appendingPathComponent("edits") }
    static let meta: [String: Any] = try! JSONSerialization.jsonObject(
        with: Data(contentsOf: edits.appendingPathComponent("meta.json"))) as! [String: Any]

    func ref(_ name: String) throws -> SafeTensorsFile { try SafeTensorsFile(url: Self.edits.appendingPathComponent(name + ".safetensors")) }
    func png(_ name: String) throws -> Data { try Data(contentsOf: Self.edits.appendingPathComponent(name)) }
    func item(_ t: Tensor) -> Tensor { Tensor(shape: Array(t.shape.dropFirst()), data: t.data) }

    func request(_ name: String) throws -> GenerationRequest {
        let m = Self.meta, c = (m["cases"] as! [String: Any])[name] as! [String: Any]
        var r = GenerationRequest(prompt: m["prompt"] as! String, width: m["width"] as! Int, height: m["height"] as! Int,
                                  steps: c["steps"] as! Int, guidance: c["guidance_scale"] as! Double, seed: 0)
        r.maxSequenceLength = m["max_sequence_length"] as? Int
        r.latents = try ref(name).tensor("noise")
        if let s = c["strength"] as? Double {
            r.image = try ImageInput.image(png: try png("image.png"))
            r.strength = s
        }
        if c["mask"] as? Bool == true { r.mask = try ImageInput.mask(png: try png("mask.png")) }
        if let loras = c["loras"] as? [[String: Any]], !loras.isEmpty {
            r.lora = LoRAStack(try loras.map {
                .init(adapter: try LoRALoader.load(url: Self.edits.appendingPathComponent($0["file"] as! String), targets: Self.pipe.loraTargets),
                      scale: Float($0["scale"] as! Double))
            })
        }
        return r
    }

    func check(_ name: String, minDB: Double = 40, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let out = try Self.pipe.generate(try request(name))[0]
        let db = psnr(out.data, item(try ref(name).tensor("image")).data)
        XCTAssertGreaterThanOrEqual(db, minDB, "\(name): \(db) dB against diffusers", file: file, line: line)
        print("parity \(name): \(String(format: "%.1f", db)) dB")
        return db
    }

    func testVAEEncoderMeanMatchesDiffusers() throws {
        let r = try ref("vae_encode")
        let pre = item(try r.tensor("image.pre"))
        // Our PNG reading and [-1, 1] scaling equal diffusers' preprocess.
        let mine = Ops.map(try ImageInput.image(png: try png("image.png"))) { $0 * 2 - 1 }
        XCTAssertLessThan(relativeError(mine.data, pre.data), 1e-6)
        let mean = Self.pipe.vaeEncoder!.encode(pre)
        XCTAssertLessThan(relativeError(mean.data, item(try r.tensor("vae.mean")).data), 1e-4)
    }

    func testImageToImageMatchesFluxImg2ImgPipeline() throws {
        let r = try ref("img2img")
        XCTAssertLessThan(relativeError(Self.pipe.imageLatents(try ImageInput.image(png: try png("image.png"))).data,
                                        item(try r.tensor("image_latents")).data), 1e-4, "image latents: mode, shifted, scaled, packed")
        _ = try check("img2img")
        _ = try check("img2img_full")
    }

    func testInpaintingMatchesFluxInpaintPipeline() throws {
        _ = try check("inpaint")
        _ = try check("inpaint_full")
    }

    func testLoRAsMatchDiffusersLoadLoraWeights() throws {
        let none = item(try ref("lora_none").tensor("image"))
        for name in ["lora_none", "lora_peft_s1.0", "lora_peft_s0.5", "lora_kohya_s1.0", "lora_kohya_s0.5", "lora_stacked"] {
            _ = try check(name)
            if name != "lora_none" {
                let moved = psnr(item(try ref(name).tensor("image")).data, none.data)
                XCTAssertLessThan(moved, 35, "\(name) must change diffusers' image too (\(moved) dB vs no LoRA)")
            }
        }
    }
}
