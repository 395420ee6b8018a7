import EaselAPI
import EaselEngine
import EaselJSON
import Foundation
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

    /// `previews: true`: `event: preview` messages with a PNG of the x0 estimate, in step order, before the end;
    /// a job without it gets none.
    func testPreviewEventsCarrySmallPNGs() throws {
        let daemon = try makeDaemon()
        defer { daemon.stop() }
        let a = call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 9, "steps": 16, "previews": true}"#)
        let b = call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 9, "steps": 16}"#)
        let id = try XCTUnwrap(a.json["id"]?.stringValue), plain = try XCTUnwrap(b.json["id"]?.stringValue)
        XCTAssertEqual(a.json["input"]?["previews"], .bool(true))
        XCTAssertEqual(call(daemon.api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "x", "previews": 1}"#).errorField, "previews")
        let sink = RecordingSink(), plainSink = RecordingSink()
        daemon.api.openEventStream(jobID: id, sink: sink)
        daemon.api.openEventStream(jobID: plain, sink: plainSink)
        daemon.scheduler.start()
        eventually(timeout: 60, "streams end") { sink.isFinished && plainSink.isFinished }
        let previews = sink.all.filter { $0.hasPrefix("event: preview\ndata: ") }.compactMap {
            try? JSONValue.parse($0.dropFirst("event: preview\ndata: ".count).trimmingCharacters(in: .newlines))
        }
        XCTAssertGreaterThanOrEqual(previews.count, 1, "\(sink.all.map { $0.prefix(40) })")
        XCTAssertLessThanOrEqual(previews.count, 8)
        let steps = previews.compactMap { $0["step"]?.intValue }
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertTrue(steps.allSatisfy { $0 >= 1 && $0 < 16 })
        let uri = try XCTUnwrap(previews.last?["image"]?.stringValue)
        XCTAssertTrue(uri.hasPrefix("data:image/png;base64,"))
        let png = try XCTUnwrap(Data(base64Encoded: String(uri.dropFirst("data:image/png;base64,".count))))
        let img = try ImageInput.image(png: png)
        XCTAssertEqual(img.shape, [3, 64, 64], "pixel-space model: the x0 estimate at full size")
        XCTAssertGreaterThan(img.data.max()! - img.data.min()!, 0.2, "not a blank image")
        XCTAssertTrue(plainSink.all.allSatisfy { !$0.hasPrefix("event: preview") }, "no previews unless asked")
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
