import Foundation
import XCTest
@testable import EaselJobs

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date = Date(timeIntervalSince1970: 1_764_168_373)) { current = start }

    var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func advance(_ seconds: TimeInterval) {
        lock.lock()
        current = current.addingTimeInterval(seconds)
        lock.unlock()
    }
}

func makeTempDir(_ name: String = #function) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("easel-jobs-tests-\(UUID().uuidString.prefix(8))-\(name.filter(\.isLetter))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func storeOptions(clock: TestClock? = nil, _ edit: (inout JobStoreOptions) -> Void = { _ in }) -> JobStoreOptions {
    var options = JobStoreOptions()
    if let clock { options.clock = { clock.now } }
    edit(&options)
    return options
}

func newJob(model: String = "m", key: String = "64x64x8", priority: JobPriority = .normal, steps: Int = 8,
            prompt: String = "a cat", webhook: String? = nil, timeout: TimeInterval? = nil,
            idempotencyKey: String? = nil, body: String? = nil) -> NewJob {
    NewJob(model: model, batchKey: key, priority: priority, steps: steps,
           input: Data(#"{"prompt":"\#(prompt)","seed":18446744073709551615}"#.utf8),
           metadata: Data(#"{"user":"u1"}"#.utf8), webhookURL: webhook, timeout: timeout,
           idempotencyKey: idempotencyKey, idempotencyBody: body.map { Data($0.utf8) })
}

/// Waits (briefly, without a fixed sleep) until `condition` holds.
func eventually(timeout: TimeInterval = 5, _ message: String = "condition", file: StaticString = #filePath,
                line: UInt = #line, _ condition: () throws -> Bool) rethrows {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try condition() { return }
        usleep(2_000)
    }
    XCTFail("timed out waiting for \(message)", file: file, line: line)
}
