import EaselJSON
import Foundation
import XCTest
@testable import EaselAPI
@testable import EaselJobs

/// The job object's wire format, rendered by the API layer from the store's rows (moved here from the store's tests
/// when the rendering moved out of EaselJobs).
final class JobJSONTests: XCTestCase {
    func test_jobJSON_rendersTheAPIObject() throws {
        let now = Date(timeIntervalSince1970: 1_764_168_373.123)
        var options = JobStoreOptions()
        options.clock = { now }
        let store = try JobStore(dataDir: try makeTempDir(), options: options,
                                 renderer: JobJSON.renderer(imageURLBase: ""))
        let job = try store.insert(NewJob(model: "m", batchKey: "64x64x8", priority: .normal, steps: 8,
                                          input: Data(#"{"prompt":"a cat","seed":18446744073709551615}"#.utf8),
                                          metadata: Data(#"{"user":"u1"}"#.utf8), webhookURL: nil, timeout: nil,
                                          idempotencyKey: nil, idempotencyBody: nil)).job
        let text = String(decoding: JobJSON.render(try XCTUnwrap(store.get(job.id))), as: UTF8.self)
        XCTAssertTrue(text.contains(#""created_at":"2025-11-26T14:46:13.123Z","started_at":null"#), text)
        XCTAssertTrue(text.contains(#""queue_position":0,"progress":{"step":0,"steps":8},"cancel_requested":false"#))
        XCTAssertTrue(text.contains(#""seed":18446744073709551615"#), "seeds are spliced, not re-encoded")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["id", "model", "status", "created_at", "started_at", "completed_at",
                                          "queue_position", "progress", "cancel_requested", "attempts", "input",
                                          "images", "error", "metrics", "metadata", "webhook"])
        XCTAssertEqual(Timestamp.rfc3339(milliseconds: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(try store.getJSON(job.id)?.json, Data(text.utf8), "the store renders with the API's renderer")
    }
}
