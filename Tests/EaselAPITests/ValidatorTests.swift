import EaselEngine
import EaselJSON
import EaselJobs
import Foundation
import XCTest
@testable import EaselAPI

/// Request validation against a fake catalog: no model folder, no weights.
final class ValidatorTests: XCTestCase {
    struct FakeCatalog: ModelCatalog {
        var models: [String: ModelCapabilities] = [:]
        var unavailable: Set<String> = []
        func capabilities(of id: String) throws -> ModelCapabilities? {
            if unavailable.contains(id) { throw APIError.unavailable("model \(id) failed to load: test") }
            return models[id]
        }
    }

    static let cfg = ModelCapabilities(
        id: "fake-cfg", sizeStep: 16, limits: ModelLimits(),
        defaults: GenerationDefaults(width: 512, height: 256, steps: 20, guidance: 4), guidance: .trueCFG,
        maxSequenceLength: 128)

    func validator() -> GenerateRequestValidator {
        var catalog = FakeCatalog()
        catalog.models["fake-cfg"] = Self.cfg
        var schnell = Self.cfg
        schnell.id = "fake-schnell"
        schnell.guidance = .none
        catalog.models["fake-schnell"] = schnell
        catalog.unavailable = ["broken"]
        var v = GenerateRequestValidator(catalog: catalog, allowPrivateNetworks: false)
        v.randomSeed = { 99 }
        return v
    }

    func validate(_ body: String) throws -> ValidatedGeneration {
        try validator().validate(body: Data(body.utf8), idempotencyKey: nil)
    }

    func assertInvalid(_ body: String, field: String?, _ needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try validate(body), line: line) { error in
            guard let e = error as? APIError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(e.status, 400, line: line)
            XCTAssertEqual(e.field, field, line: line)
            XCTAssertTrue(e.message.contains(needle), e.message, line: line)
        }
    }

    func test_validate_fillsTheModelsDefaults_andStoresTheSpec() throws {
        let v = try validate(#"{"model": "fake-cfg", "prompt": "a cat", "negative_prompt": "blur", "seed": 18446744073709551615}"#)
        XCTAssertEqual(v.spec.width, 512)
        XCTAssertEqual(v.spec.height, 256)
        XCTAssertEqual(v.spec.steps, 20)
        XCTAssertEqual(v.spec.guidance, 4)
        XCTAssertEqual(v.spec.seed, .max)
        XCTAssertEqual(v.job.batchKey, "fake-cfg/512x256/128|20")
        XCTAssertEqual(String(decoding: v.job.input, as: UTF8.self),
                       #"{"model":"fake-cfg","prompt":"a cat","negative_prompt":"blur","width":512,"height":256,"steps":20,"guidance":4,"seed":18446744073709551615,"num_images":1,"output_format":"png","priority":"normal"}"#)
        XCTAssertEqual(try GenerateRequestValidator.spec(fromInput: v.job.input), v.spec, "the executor reads back the same spec")
        XCTAssertEqual(try validate(#"{"model": "fake-cfg", "prompt": "x"}"#).spec.seed, 99, "a random seed when none is given")
    }

    func test_validate_cache_resolvesAgainstTheModel_andRejectsBadValues() throws {
        XCTAssertNil(try validate(#"{"model": "fake-cfg", "prompt": "a"}"#).spec.cache, "off unless asked")
        XCTAssertEqual(try validate(#"{"model": "fake-cfg", "prompt": "a", "cache": {}}"#).spec.cache?.threshold, StepCache.defaultThreshold)
        XCTAssertEqual(try validate(#"{"model": "fake-cfg", "prompt": "a", "cache": true}"#).spec.cache?.threshold, StepCache.defaultThreshold)
        let v = try validate(#"{"model": "fake-cfg", "prompt": "a", "cache": {"threshold": 0.25}}"#)
        XCTAssertEqual(v.spec.cache?.threshold, 0.25)
        XCTAssertTrue(String(decoding: v.job.input, as: UTF8.self).contains(#""cache":{"threshold":0.25}"#), "echoed as resolved")
        XCTAssertEqual(try v.spec.engineRequest.cacheThreshold, 0.25)
        XCTAssertEqual(try GenerateRequestValidator.spec(fromInput: v.job.input), v.spec)
        XCTAssertNil(try validate(#"{"model": "fake-cfg", "prompt": "a", "cache": {"threshold": 0}}"#).spec.cache)
        XCTAssertNil(try validate(#"{"model": "fake-cfg", "prompt": "a", "cache": false}"#).spec.cache)
        for bad in [#""cache": {"threshold": -0.1}"#, #""cache": {"threshold": 1.5}"#, #""cache": {"threshold": "x"}"#,
                    #""cache": {"thresh": 0.1}"#, #""cache": 0.1"#, #""cache": "on""#] {
            assertInvalid(#"{"model": "fake-cfg", "prompt": "a", \#(bad)}"#, field: "cache", "cache")
        }
        // A model with caching configured: on by default, a request may still turn it off or change it.
        var cached = Self.cfg
        cached.id = "fake-cached"
        cached.cacheThreshold = 0.12
        var catalog = FakeCatalog()
        catalog.models["fake-cached"] = cached
        let mv = GenerateRequestValidator(catalog: catalog, allowPrivateNetworks: false)
        func spec(_ extra: String) throws -> GenerationSpec {
            try mv.validate(body: Data(#"{"model": "fake-cached", "prompt": "a"\#(extra)}"#.utf8), idempotencyKey: nil).spec
        }
        XCTAssertEqual(try spec("").cache?.threshold, 0.12)
        XCTAssertEqual(try spec(#", "cache": {}"#).cache?.threshold, 0.12)
        XCTAssertEqual(try spec(#", "cache": {"threshold": 0.3}"#).cache?.threshold, 0.3)
        XCTAssertNil(try spec(#", "cache": false"#).cache)
    }

    func test_validate_againstTheModelsStepAndLimits() {
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "width": 72}"#, field: "width", "multiple of 16")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "height": 4096}"#, field: "height", "from 16 to 2048")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "steps": 101}"#, field: "steps", "1 to 100")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "num_images": 9}"#, field: "num_images", "1 to 8")
        assertInvalid(#"{"model": "fake-schnell", "prompt": "x", "negative_prompt": "y"}"#, field: "negative_prompt",
                      "does not use a negative prompt")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "stpes": 4}"#, field: "stpes", "unknown field")
    }

    func test_validate_unknownOrUnavailableModel() {
        XCTAssertThrowsError(try validate(#"{"model": "nope", "prompt": "x"}"#)) {
            XCTAssertEqual(($0 as? APIError)?.status, 404)
            XCTAssertEqual(($0 as? APIError)?.code, "model_not_found")
        }
        XCTAssertThrowsError(try validate(#"{"model": "broken", "prompt": "x"}"#)) {
            XCTAssertEqual(($0 as? APIError)?.status, 503)
        }
    }

    /// The capabilities read from the bundled model's configs, without loading it, are the loaded pipeline's.
    func test_capabilities_fromConfigs_matchTheLoadedPipeline() throws {
        XCTAssertEqual(try PipelineCapabilities(folder: shapesFolder), sharedShapes.capabilities)
        let caps = ModelCapabilities(config: shapesConfig(), pipeline: try PipelineCapabilities(folder: shapesFolder))
        XCTAssertEqual(caps.defaults, GenerationDefaults(width: 64, height: 64, steps: 8, guidance: 2.5))
        XCTAssertEqual(caps.sizeStep, sharedShapes.sizeStep)
        XCTAssertEqual(caps.guidance, .trueCFG)
    }

    /// One integer rule for every field: an exactly integral number is that integer, in any spelling; a fraction is
    /// refused (hardening probe: "seed": 1065.0 was refused while "steps": 4.0 was accepted).
    func test_validate_integerFields_shareOneRule() throws {
        let v = try validate(#"{"model": "fake-cfg", "prompt": "x", "seed": 1065.0, "steps": 4.0, "num_images": 2e0, "width": 6.4e1}"#)
        XCTAssertEqual(v.spec.seed, 1065)
        XCTAssertEqual(v.spec.steps, 4)
        XCTAssertEqual(v.spec.numImages, 2)
        XCTAssertEqual(v.spec.width, 64)
        XCTAssertEqual(try validate(#"{"model": "fake-cfg", "prompt": "x", "seed": 1.8446744073709551615e19}"#).spec.seed, .max,
                       "exact from the decimal text, not through a Double")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "seed": 1065.5}"#, field: "seed", "integer")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "steps": 4.5}"#, field: "steps", "integer")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "seed": 1.8446744073709551616e19}"#, field: "seed", "integer")
    }

    /// A body that is not valid JSON names the member where reading failed (hardening probe: a duplicate key or a
    /// lone surrogate named no field).
    func test_validate_malformedJSON_namesTheField() {
        assertInvalid(#"{"model": "fake-cfg", "prompt": "x", "prompt": "y"}"#, field: "prompt", "duplicate key 'prompt'")
        assertInvalid(#"{"model": "fake-cfg", "prompt": "a \ud800 b"}"#, field: "prompt", "unpaired surrogate")
        assertInvalid(#"{"model": "fake-cfg", "metadata": {"a": [1, }}"#, field: "metadata", "not valid JSON")
        assertInvalid(#"{"model": "fake-cfg", "#, field: nil, "not valid JSON")
    }
}
