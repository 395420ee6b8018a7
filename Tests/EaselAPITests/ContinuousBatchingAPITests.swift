import EaselAPI
import EaselJSON
import EaselJobs
import Foundation
import XCTest

/// Continuous batching through the live daemon on easel-shapes: a short job submitted while a long one runs joins
/// its running set at a step boundary, finishes first, and its PNG is byte-identical to the same request run alone
/// and in a static batch; the metrics and /v1/models say what happened.
final class ContinuousBatchingAPITests: XCTestCase {
    let long = #"{"model": "easel-shapes", "prompt": "a large blue square on a black background, centered", "seed": 1, "steps": 48}"#
    let short = #"{"model": "easel-shapes", "prompt": "a small red circle on a white background, top left", "seed": 2, "steps": 4, "num_images": 2}"#

    func submit(_ port: Int, _ body: String) throws -> String { try LoopbackClient.submit(port: port, body) }
    func job(_ port: Int, _ id: String) throws -> JSONValue { try LoopbackClient.job(port: port, id) }
    func waitSucceeded(_ port: Int, _ ids: [String]) { LoopbackClient.wait(port: port, ids) }

    func pngs(_ port: Int, _ id: String, count: Int) throws -> [Data] {
        try (0..<count).map { try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(id)/images/\($0).png").body }
    }

    func testAJobAdmittedMidFlightFinishesFirstWithTheSameBytesAsAloneAndStatic() throws {
        let daemon = try makeDaemon()
        defer { daemon.stop() }
        let port = try daemon.start()
        let model = try LoopbackClient.request(port: port, "GET", "/v1/models/easel-shapes").json
        XCTAssertEqual(model["batching"]?.stringValue, "continuous")

        let l = try submit(port, long)
        eventually(timeout: 60, "the long job past step 3") { ((try? job(port, l)["progress"]?["step"]?.intValue) ?? 0) >= 3 }
        let s = try submit(port, short)
        waitSucceeded(port, [l, s])
        let sj = try job(port, s), lj = try job(port, l)
        XCTAssertEqual(sj["metrics"]?["batch_size"]?.intValue, 2, "admitted into the long job's running set")
        XCTAssertLessThan(sj["completed_at"]!.stringValue!, lj["completed_at"]!.stringValue!, "the short job did not wait")
        XCTAssertEqual(lj["progress"]?["step"]?.intValue, 48)
        let admitted = try pngs(port, s, count: 2)

        // The same request alone.
        let alone = try submit(port, short)
        waitSucceeded(port, [alone])
        XCTAssertEqual(try pngs(port, alone, count: 2), admitted, "alone and admitted mid-flight: the same bytes")

        let metrics = try LoopbackClient.request(port: port, "GET", "/metrics").text
        for name in ["easel_batch_occupancy_count", "easel_step_admissions_count", "easel_queue_wait_seconds_count"] {
            XCTAssertTrue(metrics.contains(name), "\(name) in /metrics")
        }
        // Two running sets: 48 steps (the short job's 4 inside them), then 4 alone. A job was admitted before the
        // first step of each and once mid-flight; the other 49 steps admitted nothing.
        XCTAssertTrue(metrics.contains("easel_batch_occupancy_count 52"), metrics)
        XCTAssertTrue(metrics.contains(#"easel_step_admissions_bucket{le="0"} 49"#), metrics)

        // Static batching: the two start together in one batch only if they share steps, so here they run one
        // after the other; the short job's bytes are the same again.
        let staticDaemon = try makeDaemon("static") {
            $0.models[0].batching = .static
            $0.models[0].maxQueueDelayMs = 1000
        }
        defer { staticDaemon.stop() }
        let sp = try staticDaemon.start()
        let s2 = try submit(sp, short)
        let s3 = try submit(sp, short.replacingOccurrences(of: #""seed": 2"#, with: #""seed": 9"#))
        waitSucceeded(sp, [s2, s3])
        XCTAssertEqual(try job(sp, s2)["metrics"]?["batch_size"]?.intValue, 2)
        XCTAssertEqual(try pngs(sp, s2, count: 2), admitted, "static batch: the same bytes")
    }
}
