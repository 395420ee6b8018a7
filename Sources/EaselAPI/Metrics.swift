import Foundation

/// The daemon's Prometheus metrics (docs/API.md `/metrics`). Counters and histograms live here; the queue-depth gauge is
/// read from the store at scrape time.
/// Unchecked Sendable: `counters` and `histograms` are only touched with `lock` held.
public final class Metrics: @unchecked Sendable {
    public static let jobsTotal = "easel_jobs_total"
    public static let queueDepth = "easel_queue_depth"
    public static let batchSize = "easel_batch_size"
    public static let stepSeconds = "easel_step_seconds"
    public static let jobSeconds = "easel_job_seconds"
    public static let queueWaitSeconds = "easel_queue_wait_seconds"
    public static let batchOccupancy = "easel_batch_occupancy"
    public static let stepAdmissions = "easel_step_admissions"
    public static let webhookDeliveries = "easel_webhook_deliveries_total"
    public static let httpRequests = "easel_http_requests_total"
    public static let modelLoads = "easel_model_loads_total"
    public static let modelEvictions = "easel_model_evictions_total"
    public static let modelLoadSeconds = "easel_model_load_seconds"
    public static let modelResidentBytes = "easel_model_resident_bytes"
    public static let modelMemoryBudgetBytes = "easel_model_memory_budget_bytes"

    static let help: [String: String] = [
        jobsTotal: "Jobs by model and status: submitted (queued) and finished (succeeded, failed, canceled).",
        queueDepth: "Jobs waiting in the queue, per model.",
        batchSize: "Jobs per executed batch (continuous batching: jobs in the running set after each admission).",
        stepSeconds: "Seconds per denoising step of a batch (all its images together).",
        jobSeconds: "Seconds from submission to a terminal status.",
        queueWaitSeconds: "Seconds a job waited in the queue before it was claimed (jobs that ran).",
        batchOccupancy: "Images in a running set at each denoising step (continuous batching).",
        stepAdmissions: "Jobs admitted into a running set at each step boundary (continuous batching).",
        webhookDeliveries: "Webhook delivery attempts by result (delivered, retry, failed).",
        httpRequests: "HTTP requests by route and status code.",
        modelLoads: "Model loads by model and result (ok, failed).",
        modelEvictions: "Models evicted from memory by model and reason (idle: least recently used; preempted: yielded to a waiting model).",
        modelLoadSeconds: "Seconds per model load (successful ones).",
        modelResidentBytes: "Bytes of weights each model holds now, as counted against memory.budget_mb (0: not resident).",
        modelMemoryBudgetBytes: "memory.budget_mb in bytes (absent without a budget).",
    ]

    private let lock = NSLock()
    private var counters: [String: [String: Double]] = [:]
    private var histograms: [String: Histogram] = [
        batchSize: Histogram(bounds: [1, 2, 3, 4, 6, 8, 12, 16, 32]),
        stepSeconds: Histogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
        jobSeconds: Histogram(bounds: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]),
        queueWaitSeconds: Histogram(bounds: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]),
        batchOccupancy: Histogram(bounds: [1, 2, 3, 4, 6, 8, 12, 16, 32]),
        stepAdmissions: Histogram(bounds: [0, 1, 2, 4, 8, 16]),
        modelLoadSeconds: Histogram(bounds: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
    ]

    public init() {}

    public func increment(_ name: String, _ labels: [(String, String)], by amount: Double = 1) {
        let key = Self.labelText(labels)
        lock.lock()
        counters[name, default: [:]][key, default: 0] += amount
        lock.unlock()
    }

    public func observe(_ name: String, _ value: Double) {
        lock.lock()
        histograms[name]?.observe(value)
        lock.unlock()
    }

    public func counter(_ name: String, _ labels: [(String, String)]) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return counters[name]?[Self.labelText(labels)] ?? 0
    }

    public func histogram(_ name: String) -> Histogram? {
        lock.lock()
        defer { lock.unlock() }
        return histograms[name]
    }

    /// The text exposition format, with `queueDepths` as the per-model gauge (every configured model listed) and
    /// the models' resident bytes and budget as gauges.
    public func render(queueDepths: [String: Int], models: [String], resident: [String: Int] = [:],
                       budget: Int? = nil) -> String {
        lock.lock()
        let counters = self.counters
        let histograms = self.histograms
        lock.unlock()
        var out = ""
        for name in [Self.jobsTotal, Self.webhookDeliveries, Self.httpRequests, Self.modelLoads, Self.modelEvictions] {
            out += "# HELP \(name) \(Self.help[name]!)\n# TYPE \(name) counter\n"
            for (labels, value) in (counters[name] ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += "\(name)\(labels) \(Self.format(value))\n"
            }
        }
        out += "# HELP \(Self.queueDepth) \(Self.help[Self.queueDepth]!)\n# TYPE \(Self.queueDepth) gauge\n"
        for model in Set(models).union(queueDepths.keys).sorted() {
            out += "\(Self.queueDepth)\(Self.labelText([("model", model)])) \(queueDepths[model] ?? 0)\n"
        }
        out += "# HELP \(Self.modelResidentBytes) \(Self.help[Self.modelResidentBytes]!)\n# TYPE \(Self.modelResidentBytes) gauge\n"
        for (model, bytes) in resident.sorted(by: { $0.key < $1.key }) {
            out += "\(Self.modelResidentBytes)\(Self.labelText([("model", model)])) \(bytes)\n"
        }
        if let budget {
            out += "# HELP \(Self.modelMemoryBudgetBytes) \(Self.help[Self.modelMemoryBudgetBytes]!)\n"
            out += "# TYPE \(Self.modelMemoryBudgetBytes) gauge\n\(Self.modelMemoryBudgetBytes) \(budget)\n"
        }
        for name in [Self.batchSize, Self.stepSeconds, Self.jobSeconds, Self.queueWaitSeconds, Self.batchOccupancy,
                     Self.stepAdmissions, Self.modelLoadSeconds] {
            out += "# HELP \(name) \(Self.help[name]!)\n# TYPE \(name) histogram\n"
            histograms[name]!.render(name: name, into: &out)
        }
        return out
    }

    /// `{name="value",…}` with the exposition format's escapes. Runs on every request (the HTTP counter), so it
    /// builds one string and leaves values without `\`, `"` or newline untouched.
    static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        var out = "{"
        for (i, (name, value)) in labels.enumerated() {
            if i > 0 { out += "," }
            out += name
            out += "=\""
            if value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) {
                for c in value.unicodeScalars {
                    switch c {
                    case "\\": out += "\\\\"
                    case "\"": out += "\\\""
                    case "\n": out += "\\n"
                    default: out.unicodeScalars.append(c)
                    }
                }
            } else {
                out += value
            }
            out += "\""
        }
        return out + "}"
    }

    static func format(_ v: Double) -> String {
        if v.rounded() == v, abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
