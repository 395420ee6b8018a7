import EaselHTTP
import EaselJobs
import Foundation
import Synchronization

extension APIHandler {
    /// POST /v1/generate.
    func generate(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let contentType = request.headers["Content-Type"]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard contentType == "application/json" || (contentType.hasPrefix("application/") && contentType.hasSuffix("+json"))
        else {
            throw APIError(status: 415, code: "unsupported_media_type",
                           message: "POST bodies must be JSON (Content-Type: application/json)")
        }
        guard request.body.count <= options.maxBodyBytes else {
            throw APIError(status: 413, code: "payload_too_large",
                           message: "the body is larger than \(options.maxBodyBytes) bytes")
        }
        let idempotencyKey = request.headers["Idempotency-Key"]
        // Counted in Unicode scalars, as the OpenAPI maxLength (JSON Schema code points) counts them.
        if let key = idempotencyKey, key.isEmpty || key.unicodeScalars.count > 255 {
            throw APIError.invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters")
        }
        let wait = try Self.preferWait(request.headers, max: options.maxWaitSeconds)
        let validated = try validator.validate(body: request.body, idempotencyKey: idempotencyKey)
        let outcome: InsertOutcome
        do { outcome = try scheduler.submit(validated.job) } catch { throw storeError(error) }
        var status = 200
        if case .created(let job) = outcome {
            status = 202
            logger.info("job queued", metadata: [
                "job_id": "\(job.id)", "model": "\(job.model)", "priority": "\(job.priority.rawValue)",
                "steps": "\(job.steps)"])
        }
        let job = outcome.job
        var headers: [(String, String)] = [("Location", "/v1/jobs/\(job.id)")]
        guard let wait, !job.status.isTerminal else {
            var response = jobResponse(job, status: status)
            if wait != nil { headers.append(("Preference-Applied", "wait=\(wait!)")) }
            for (n, v) in headers { response.headers.set(n, v) }
            respond(response)
            return
        }
        headers.append(("Preference-Applied", "wait=\(wait)"))
        waitForTerminal(job.id, seconds: wait) { [self] final in
            guard let final else {
                respond(APIError.internalError("job \(job.id) disappeared").response)
                return
            }
            var response = jobResponse(final, status: final.status.isTerminal ? 200 : 202)
            for (n, v) in headers { response.headers.set(n, v) }
            respond(response)
        }
    }

    /// `Prefer: wait` (60 s) or `Prefer: wait=N` (N ≤ `max`; larger values are capped); nil without it.
    static func preferWait(_ headers: HTTPHeaders, max: Int) throws -> Int? {
        for value in headers.values(for: "Prefer") {
            for part in value.split(separator: ",") {
                let pref = part.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? ""
                let kv = pref.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.first?.lowercased() == "wait" else { continue }
                if kv.count == 1 { return max }
                guard let n = Int(kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))), n >= 0 else {
                    throw APIError.invalid("Prefer", "Prefer: wait=N needs N as whole seconds from 0 to \(max)")
                }
                return min(n, max)
            }
        }
        return nil
    }

    /// Calls `done` once: with the job when it reaches a terminal status, or as it stands after `seconds` (or at
    /// shutdown). Holds no thread while waiting.
    func waitForTerminal(_ id: String, seconds: Int, done: @escaping (JobRecord?) -> Void) {
        let once = Once()
        let store = self.store
        // The two registrations `finish` undoes; it may run before the second exists.
        let registered = WaitRegistrations()
        let finish: @Sendable () -> Void = { [shutdown] in
            guard once.claim() else { return }
            let (token, hubToken) = registered.tokens
            if let token { store.events.remove(token) }
            shutdown.remove(hubToken)
            done(try? store.get(id))
        }
        registered.setEventToken(store.events.observe { event in
            guard event.jobID == id, event.status.isTerminal else { return }
            DispatchQueue.global().async(execute: finish)
        })
        registered.setHubToken(shutdown.register(finish))
        // The job may have finished before the observer was registered.
        if let current = try? store.get(id), current.status.isTerminal { finish() }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds), execute: finish)
    }
}

/// The observer and shutdown registrations of one held request, set from the request's thread and read by whichever
/// thread finishes it.
private final class WaitRegistrations: Sendable {
    private let state = Mutex<(event: JobEvents.Token?, hub: ShutdownHub.Token?)>((nil, nil))
    var tokens: (JobEvents.Token?, ShutdownHub.Token?) { state.withLock { ($0.event, $0.hub) } }
    func setEventToken(_ t: JobEvents.Token) { state.withLock { $0.event = t } }
    func setHubToken(_ t: ShutdownHub.Token?) { state.withLock { $0.hub = t } }
}
