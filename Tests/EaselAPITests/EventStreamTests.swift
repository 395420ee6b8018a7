import EaselAPI
import EaselJobs
import XCTest

/// GET /v1/jobs/{id}/events: the status at once, every change and step, keepalives, the end after the terminal event.
final class EventStreamTests: XCTestCase {
    func testEventSequenceEndsAfterTerminal() throws {
        let daemon = try makeDaemon()
        defer { daemon.stop() }
        let a = call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 9}"#)
        let id = try XCTUnwrap(a.json["id"]?.stringValue)
        let route = call(daemon.api, "GET", "/v1/jobs/\(id)/events")
        XCTAssertEqual(route.status, 200)
        XCTAssertEqual(route.headers["Content-Type"], "text/event-stream")

        let sink = RecordingSink()
        daemon.api.openEventStream(jobID: id, sink: sink)
        eventually(timeout: 5, "first event") { sink.statusEvents.count >= 1 }
        XCTAssertEqual(sink.statusEvents.first?["status"]?.stringValue, "queued", "the current state at once")
        daemon.scheduler.start()
        eventually(timeout: 60, "stream end") { sink.isFinished }
        let events = sink.statusEvents
        let statuses = events.compactMap { $0["status"]?.stringValue }
        XCTAssertEqual(statuses.last, "succeeded")
        XCTAssertTrue(statuses.contains("running"), "\(statuses)")
        let steps = events.filter { $0["status"]?.stringValue == "running" }.compactMap { $0["progress"]?["step"]?.intValue }
        XCTAssertEqual(steps, steps.sorted(), "progress never goes back")
        XCTAssertGreaterThanOrEqual(Set(steps).count, 3, "steps are reported as they finish: \(steps)")
        XCTAssertEqual(events.last?["images"]?.serialized.contains("0.png"), true)
        XCTAssertEqual(statuses.filter { $0 == "succeeded" }.count, 1, "nothing after the terminal event")
    }

    func testTerminalJobStreamsOnceAndKeepalivesFlow() throws {
        let daemon = try makeTunedDaemon(tune: { $0.keepaliveInterval = 0.2 })
        defer { daemon.stop() }
        let a = call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "x"}"#)
        let id = try XCTUnwrap(a.json["id"]?.stringValue)

        let live = RecordingSink()
        daemon.api.openEventStream(jobID: id, sink: live)
        eventually(timeout: 5, "keepalive") { live.all.contains(": keepalive\n\n") }
        XCTAssertFalse(live.isFinished)
        _ = call(daemon.api, "DELETE", "/v1/jobs/\(id)")
        eventually(timeout: 5, "end after cancel") { live.isFinished }
        XCTAssertEqual(live.statusEvents.last?["status"]?.stringValue, "canceled")

        let late = RecordingSink()
        daemon.api.openEventStream(jobID: id, sink: late)
        eventually(timeout: 5, "immediate end") { late.isFinished }
        XCTAssertEqual(late.statusEvents.count, 1)
    }

    func testReaderGoingAwayAndShutdownEndTheStream() throws {
        let daemon = try makeTunedDaemon(tune: { $0.keepaliveInterval = 0.1 })
        let a = call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "x"}"#)
        let id = try XCTUnwrap(a.json["id"]?.stringValue)
        let gone = RecordingSink()
        gone.writable = false
        daemon.api.openEventStream(jobID: id, sink: gone)
        eventually(timeout: 5, "end when the reader is gone") { gone.isFinished }

        let held = RecordingSink()
        daemon.api.openEventStream(jobID: id, sink: held)
        eventually(timeout: 5, "first event") { held.statusEvents.count == 1 }
        daemon.stop()
        eventually(timeout: 5, "end at shutdown") { held.isFinished }
    }
}
