import XCTest
@testable import EaselEngine

final class BackendResolverTests: XCTestCase {
    /// `auto` follows the probe, `cuda` without one is an error naming the cause, `cpu` is always the CPU.
    func test_resolve_followsTheCUDAProbe() throws {
        XCTAssertEqual(try BackendResolver.resolve(.cpu).get().kind, .cpu)
        switch BackendResolver.cudaProbe {
        case .success:
            XCTAssertEqual(try BackendResolver.resolve(.auto).get().kind, .cuda)
            XCTAssertEqual(try BackendResolver.resolve(.cuda).get().kind, .cuda)
        case .failure(let probe):
            XCTAssertEqual(try BackendResolver.resolve(.auto).get().kind, .cpu)
            XCTAssertThrowsError(try BackendResolver.resolve(.cuda).get()) {
                let message = ($0 as? CUDAError)?.message ?? ""
                XCTAssertTrue(message.contains("backend \"cuda\" is not available") && message.contains(probe.message), message)
            }
        }
    }

    func test_loadPipeline_cpu_runsOnTheCPU() throws {
        let shapes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/models/easel-shapes")
        let p = try BackendResolver.loadPipeline(folder: shapes, preference: .cpu)
        XCTAssertEqual(p.transformer.backendKind, .cpu)
    }
}
