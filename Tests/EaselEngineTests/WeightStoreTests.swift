import Foundation
import XCTest
@testable import EaselEngine

final class WeightStoreTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("easel-ws-\(UUID().uuidString)")
            .appendingPathComponent("transformer")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir.deletingLastPathComponent())
    }

    func t(_ v: Float, _ n: Int = 2) -> Tensor { Tensor(shape: [n], data: [Float](repeating: v, count: n)) }

    func writeIndex(_ map: [String: String], name: String = "diffusion_pytorch_model.safetensors.index.json") throws {
        let body = map.keys.sorted().map { "\"\($0)\": \"\(map[$0]!)\"" }.joined(separator: ", ")
        try Data("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {\(body)}}".utf8).write(to: dir.appendingPathComponent(name))
    }

    func assertThrows(_ body: @autoclosure () throws -> Any, _ needles: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            let msg = (e as? EngineError)?.message ?? "not an EngineError: \(e)"
            for n in needles { XCTAssertTrue(msg.contains(n), "'\(msg)' does not mention '\(n)'", file: file, line: line) }
        }
    }

    func test_singleFile_readsAndTracksUsage() throws {
        try SafeTensorsWriter.write([("a", t(1)), ("b", t(2)), ("c", t(3))], to: dir.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        let s = try WeightStore(folder: dir, baseName: "diffusion_pytorch_model")
        XCTAssertEqual(s.names, ["a", "b", "c"])
        XCTAssertTrue(s.has("a")); XCTAssertFalse(s.has("z"))
        XCTAssertEqual(s.info("b")?.shape, [2])
        XCTAssertEqual(s.unusedNames(), ["a", "b", "c"])
        XCTAssertEqual(try s.tensor("b").data, [2, 2])
        XCTAssertEqual(s.unusedNames(), ["a", "c"])
        XCTAssertEqual(s.usedNames(), ["b"])
        assertThrows(try s.tensor("z"), ["component transformer: missing weight 'z'"])
    }

    func test_sharded_readsAcrossShards() throws {
        try SafeTensorsWriter.write([("a", t(1)), ("b", t(2))], to: dir.appendingPathComponent("m-00001-of-00002.safetensors"))
        try SafeTensorsWriter.write([("c", t(3, 3))], to: dir.appendingPathComponent("m-00002-of-00002.safetensors"), storage: .f16)
        try writeIndex(["a": "m-00001-of-00002.safetensors", "b": "m-00001-of-00002.safetensors", "c": "m-00002-of-00002.safetensors"])
        let s = try WeightStore(folder: dir, baseName: "diffusion_pytorch_model")
        XCTAssertEqual(s.names, ["a", "b", "c"])
        XCTAssertEqual(s.files.count, 2)
        XCTAssertEqual(try s.tensor("c").data, [3, 3, 3])
        XCTAssertEqual(try s.tensor("a").data, [1, 1])
        XCTAssertEqual(s.unusedNames(), ["b"])
    }

    func test_sharded_missingShard_throws() throws {
        try SafeTensorsWriter.write([("a", t(1))], to: dir.appendingPathComponent("s1.safetensors"))
        try writeIndex(["a": "s1.safetensors", "b": "s2.safetensors"])
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["transformer", "s2.safetensors", "does not exist"])
    }

    func test_sharded_listedTensorNotInShard_throws() throws {
        try SafeTensorsWriter.write([("a", t(1))], to: dir.appendingPathComponent("s1.safetensors"))
        try SafeTensorsWriter.write([("b", t(1))], to: dir.appendingPathComponent("s2.safetensors"))
        try writeIndex(["a": "s1.safetensors", "b": "s1.safetensors"])
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["'b'", "s1.safetensors"])
    }

    func test_sharded_tensorInTwoShards_throws() throws {
        try SafeTensorsWriter.write([("a", t(1)), ("x", t(0))], to: dir.appendingPathComponent("s1.safetensors"))
        try SafeTensorsWriter.write([("b", t(1)), ("x", t(0))], to: dir.appendingPathComponent("s2.safetensors"))
        try writeIndex(["a": "s1.safetensors", "b": "s2.safetensors", "x": "s1.safetensors"])
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["'x'", "s1.safetensors", "s2.safetensors"])
    }

    func test_sharded_duplicateKeyInIndex_throws() throws {
        try SafeTensorsWriter.write([("a", t(1))], to: dir.appendingPathComponent("s1.safetensors"))
        try Data(#"{"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}}"#.utf8)
            .write(to: dir.appendingPathComponent("diffusion_pytorch_model.safetensors.index.json"))
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["duplicate", "'a'"])
    }

    func test_sharded_pathInShardName_throws() throws {
        try writeIndex(["a": "../elsewhere.safetensors"])
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["not a plain file name"])
    }

    func test_loneFile_usedWhenBaseNameAbsent() throws {
        try SafeTensorsWriter.write([("w", t(5))], to: dir.appendingPathComponent("flux1-schnell.safetensors"))
        let s = try WeightStore(folder: dir, baseName: "diffusion_pytorch_model")
        XCTAssertEqual(try s.tensor("w").data, [5, 5])
        try SafeTensorsWriter.write([("w", t(6))], to: dir.appendingPathComponent("other.safetensors"))
        assertThrows(try WeightStore(folder: dir, baseName: "diffusion_pytorch_model"), ["several", "flux1-schnell.safetensors", "other.safetensors"])
    }

    func test_emptyFolder_throws() {
        assertThrows(try WeightStore(folder: dir, baseName: "model"), ["component transformer", "model.safetensors"])
    }
}
