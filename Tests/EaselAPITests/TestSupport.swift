import EaselJSON
import EaselAPI
import EaselEngine
import EaselHTTP
import EaselJobs
@_exported import EaselTestSupport
import Foundation
import Logging
import XCTest

/// The repository root, from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let shapesFolder = repoRoot.appendingPathComponent("Config/models/easel-shapes")

/// easel-shapes, loaded once for all tests.
let sharedShapes: FluxPipeline = {
    Engine.setThreads(2)
    return try! FluxPipeline(folder: shapesFolder)
}()

let quietLogger: Logger = {
    var l = Logger(label: "easel-test")
    l.logLevel = ProcessInfo.processInfo.environment["EASEL_TEST_LOG"] != nil ? .debug : .critical
    return l
}()

func shapesConfig(id: String = "easel-shapes") -> ModelConfig {
    var m = ModelConfig(id: id, path: shapesFolder)
    m.maxBatchSize = 8
    m.maxQueueDelayMs = 20
    m.defaults = ModelDefaults(width: 64, height: 64, steps: 8, guidance: 2.5)
    m.limits.maxWidth = 256
    m.limits.maxHeight = 256
    m.limits.maxSteps = 50
    return m
}

/// A daemon on a temp data dir with easel-shapes (already loaded), not started unless asked.
func makeDaemon(_ name: String = #function, edit: (inout ServerConfig) -> Void = { _ in }) throws -> EaselDaemon {
    try makeTunedDaemon(name, tune: { _ in }, edit: edit)
}

func makeTunedDaemon(_ name: String = #function, tune: (inout APIOptions) -> Void,
                     edit: (inout ServerConfig) -> Void = { _ in }) throws -> EaselDaemon {
    var config = ServerConfig(dataDir: try makeTempDir(name), models: [shapesConfig()])
    config.port = 0
    config.webhookSecret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
    edit(&config)
    let entries = config.models.map { m -> ModelEntry in
        m.path == shapesFolder && m.backend != .cuda && m.load == .startup
            ? ModelEntry(config: m, pipeline: sharedShapes, logger: quietLogger)
            : ModelEntry(config: m, logger: quietLogger)
    }
    return try EaselDaemon(config: config, registry: ModelRegistry(entries: entries), logger: quietLogger,
                           tune: tune)
}

/// Calls the handler directly (no sockets) and waits for the answer.
func call(_ api: APIHandler, _ method: String, _ target: String, json: String? = nil,
          headers: [(String, String)] = [], timeout: TimeInterval = 70) -> Answer {
    var h = HTTPHeaders(headers)
    if json != nil && !h.contains("Content-Type") { h.add("Content-Type", "application/json") }
    let request = HTTPRequest(method: method, target: target, headers: h, body: Data((json ?? "").utf8),
                              remoteAddress: "127.0.0.1:1")
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: HTTPResponse?
    api.handle(request) { r in
        result = r
        done.signal()
    }
    guard done.wait(timeout: .now() + timeout) == .success, let r = result else {
        return Answer(status: 0, headers: HTTPHeaders(), body: Data())
    }
    switch r.body {
    case .data(let d): return Answer(status: r.status, headers: r.headers, body: d)
    case .stream: return Answer(status: r.status, headers: r.headers, body: Data("<stream>".utf8))
    }
}

/// An `EventSink` that records what was written.
final class RecordingSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [String] = []
    private var finished = false
    var writable = true

    func write(_ text: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        chunks.append(text)
        return writable
    }

    func finish() { lock.withLock { finished = true } }

    var isFinished: Bool { lock.withLock { finished } }
    var all: [String] { lock.withLock { chunks } }

    /// The job objects of the `event: status` messages, in order.
    var statusEvents: [JSONValue] {
        all.compactMap { chunk in
            guard chunk.hasPrefix("event: status\ndata: ") else { return nil }
            let json = chunk.dropFirst("event: status\ndata: ".count).trimmingCharacters(in: .newlines)
            return try? JSONValue.parse(json)
        }
    }
}

let goodPrompt = "a large red circle in the center on a blue background"
